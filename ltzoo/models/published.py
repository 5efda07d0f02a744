"""The published-weights table: which pretrained tags have weights on the Hugging Face Hub, and the
SHA-256 each weight file must have.

The table is ``published_weights.json`` beside this module, written by ``ltzoo release add`` from
the release store's index (:mod:`ltzoo.release`). Tag ``<arch>.<tag>`` lives in the Hub repository
``<org>/<arch>.<tag>``; ``org`` is named once, in the table (``ltzoo`` by default), and the
environment variable ``LTZOO_HUB_ORG`` points every tag at a mirror organisation instead.

A pretrained load of a published tag downloads ``model.safetensors`` with huggingface_hub, checks
its SHA-256 against the table and refuses a file that differs, naming it; only then does timm read
it.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

from ltzoo.errors import InputError
from ltzoo.models.weights import WEIGHTS_NAME

TABLE_PATH = Path(__file__).with_name("published_weights.json")
ORG_VARIABLE = "LTZOO_HUB_ORG"


@lru_cache(maxsize=1)
def _table() -> Dict[str, Any]:
    if not TABLE_PATH.is_file():
        return {"org": "ltzoo", "weights": {}}
    return json.loads(TABLE_PATH.read_text())


def hub_org() -> str:
    """The Hub organisation holding the published tags (``LTZOO_HUB_ORG`` overrides the table's)."""
    return os.environ.get(ORG_VARIABLE) or _table()["org"]


def published() -> Dict[str, Dict[str, Any]]:
    """``{"<arch>.<tag>": {"sha256", "top1", "ece", "bytes", ...}}`` for every published tag."""
    return dict(_table()["weights"])


def hub_ids() -> Dict[str, str]:
    """``{"<arch>.<tag>": "<org>/<arch>.<tag>"}``: the repositories timm downloads tags from."""
    org = hub_org()
    return {name: f"{org}/{name}" for name in published()}


def sha256_file(path: os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_weights(name: str, hub_id: str) -> Optional[str]:
    """The local path of ``hub_id``'s ``model.safetensors`` once its SHA-256 equals the table's entry
    for ``name``; ``None`` when ``name`` is not in the table. A differing file raises, naming it."""
    entry = published().get(name)
    if entry is None:
        return None
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo_id=hub_id, filename=WEIGHTS_NAME)
    found = sha256_file(path)
    if found != entry["sha256"]:
        raise InputError(
            f"{WEIGHTS_NAME} of {hub_id} ({path}) has SHA-256 {found}, but the release of {name} has "
            f"{entry['sha256']}: refusing to load weights that are not the released ones"
        )
    return path


__all__ = ["TABLE_PATH", "hub_ids", "hub_org", "published", "sha256_file", "verified_weights"]
