"""Which weight files a pretrained load may read: safetensors only, never a pickle (which can run
code when it is loaded). The zoo's builder and the Hub code both apply it, so it lives below both."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ltzoo.errors import InputError
from ltzoo.run_folder import MODEL as WEIGHTS_NAME

PICKLE_SUFFIXES = (".bin", ".pth", ".pt", ".ckpt", ".pkl", ".tar")


def safe_weights_overlay(
    variant: str, pretrained_cfg: Any = None, overlay: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """The ``pretrained_cfg_overlay`` that makes Hub and ``local-dir:`` loads read safetensors only.

    timm falls back to ``pytorch_model.bin`` (``torch.load``) when a Hub repository has no
    safetensors file: the overlay pins ``hf_hub_filename`` to ``model.safetensors``, so such a
    repository fails with huggingface_hub's "entry not found" instead. A ``local-dir:`` folder
    without ``model.safetensors`` is refused here, naming the pickles it holds.
    """
    from timm.models import resolve_pretrained_cfg

    cfg = resolve_pretrained_cfg(
        variant, pretrained_cfg=pretrained_cfg, pretrained_cfg_overlay=overlay
    )
    overlay = dict(overlay or {})
    if cfg.hf_hub_filename and not cfg.hf_hub_filename.endswith(".safetensors"):
        raise InputError(
            f"hf_hub_filename={cfg.hf_hub_filename!r} is not a .safetensors file; ltzoo loads Hub weights "
            "from safetensors only (pickled weights can run code when loaded)"
        )
    if cfg.source == "local-dir" and cfg.file:
        folder = Path(cfg.file)
        if not (folder / WEIGHTS_NAME).is_file():
            pickles = (
                sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
                if folder.is_dir()
                else []
            )
            raise FileNotFoundError(
                f"{folder} has no {WEIGHTS_NAME}"
                + (
                    f"; refusing to load the pickled {', '.join(pickles)} (convert it to safetensors)"
                    if pickles
                    else ""
                )
            )
    elif cfg.hf_hub_id and not cfg.hf_hub_filename:
        overlay["hf_hub_filename"] = WEIGHTS_NAME
    return overlay


__all__ = ["PICKLE_SUFFIXES", "WEIGHTS_NAME", "safe_weights_overlay"]
