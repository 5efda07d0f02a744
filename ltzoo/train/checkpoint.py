"""Training checkpoints (atomic writes: ltzoo.atomic).

Files are written beside their target, flushed, then renamed over it; checkpoint folders are
written under a temporary name, sealed with a manifest (sizes + SHA-256), then renamed. A crash
at any moment leaves the old state or the new one, never a torn one, and a checkpoint damaged
afterwards is detected by its manifest and skipped. Checkpoint folders hold Accelerate's
``save_state`` output: model weights as safetensors, and the optimizer and RNG states as
torch pickles written by this run (local training state, never loaded from the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ltzoo.atomic import write_json_atomic
from ltzoo.errors import StorageError, storage_error
from ltzoo.run_folder import CHECKPOINTS, VERSION_KEY, check_version, fingerprint
from ltzoo.version import __version__

# --------------------------------------------------------------------------------------------
# Training checkpoints: Accelerate's ``save_state`` folders, written to a temporary folder,
# sealed with a manifest of file sizes and SHA-256 digests, then renamed into place.

MANIFEST = "ltzoo_checkpoint.json"
PREFIX = "step_"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def seal(folder: Path, progress: Dict[str, Any], settings: Optional[Dict[str, Any]] = None) -> None:
    """Record every file's size and digest, the ltzoo version (and the run's trajectory ``settings``, see
    :func:`ltzoo.run_folder.trajectory_settings`); a checkpoint without a valid manifest is incomplete."""
    files = {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _digest(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"progress": progress, "files": files, VERSION_KEY: __version__}
    if settings is not None:
        manifest.update(settings=settings, fingerprint=fingerprint(settings))
    write_json_atomic(folder / MANIFEST, manifest)


def verify(folder: Path) -> Optional[str]:
    """``None`` when ``folder`` is a complete checkpoint, else what is wrong with it."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return f"no {MANIFEST} (the save did not finish)"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError) as error:
        return f"unreadable {MANIFEST}: {error}"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} were written (truncated?)"
        if _digest(path) != expected["sha256"]:
            return f"{name} does not match its SHA-256 digest (corrupt)"
    return None


def progress_of(folder: Path) -> Dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text())["progress"]


def settings_of(folder: Path) -> Optional[Dict[str, Any]]:
    """The trajectory settings the checkpoint was written with (None for older checkpoints);
    ``InputError`` when a newer ltzoo wrote it (naming both versions)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    check_version(manifest.get(VERSION_KEY), f"checkpoint {folder}")
    return manifest.get("settings")


class CheckpointManager:
    """``RUN/checkpoints/step_000123`` folders: save (atomically), find the newest good one, prune."""

    def __init__(
        self, run_dir: Union[str, Path], keep: int = 2, settings: Optional[Dict[str, Any]] = None
    ):
        self.root = Path(run_dir) / CHECKPOINTS
        self.keep, self.settings = keep, settings

    def folders(self) -> List[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))

    def save(self, accelerator, global_step: int, progress: Dict[str, Any]) -> Path:
        """Every process calls this (Accelerate saves each rank's RNG state)."""
        final = self.root / f"{PREFIX}{global_step:09d}"
        tmp = self.root / f".tmp-{PREFIX}{global_step:09d}"
        try:
            if accelerator.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            accelerator.wait_for_everyone()
            accelerator.save_state(str(tmp))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                seal(tmp, progress, self.settings)
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
                self.prune()
        except (
            OSError,
            StorageError,
        ) as error:  # a full disk: drop the partial folder, keep the older checkpoints
            shutil.rmtree(tmp, ignore_errors=True)
            converted = storage_error(error, final, kept="the previous checkpoints are intact")
            if converted is None:
                raise
            raise converted from error
        accelerator.wait_for_everyone()
        return final

    def prune(self) -> None:
        complete = [f for f in self.folders() if (f / MANIFEST).is_file()]
        for old in complete[: max(0, len(complete) - self.keep)]:
            shutil.rmtree(old, ignore_errors=True)

    def latest_valid(self) -> Optional[Path]:
        """The newest complete checkpoint; broken ones are skipped with a warning naming them."""
        for folder in reversed(self.folders()):
            problem = verify(folder)
            if problem is None:
                return folder
            warnings.warn(f"skipping checkpoint {folder}: {problem}", RuntimeWarning, stacklevel=2)
        return None
