"""Atomic file writes: a crash at any moment leaves the old file or the new one, never a torn one.

Each file is written beside its target under a temporary name, flushed to disk, then renamed over
it (``os.replace``). Used by training (checkpoints, run folders) and publishing alike. A write the
storage refuses (full disk, quota, read-only, permission) removes its temporary file and raises
:class:`ltzoo.errors.StorageError` naming the target; the old file is left as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Union

import safetensors.torch
import torch

from ltzoo.errors import storage_error


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is set straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _mode_of(path: Path) -> int:
    """The mode a replaced file keeps, or the one ``open(path, "w")`` would give a new file."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def _atomic(path: Union[str, Path], write) -> Path:
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, _mode_of(path))  # mkstemp makes 0600; the file gets the mode open() gives
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        converted = storage_error(error, path)
        if converted is not None:
            raise converted from error
        raise
    return path


def write_text_atomic(path: Union[str, Path], text: str) -> Path:
    return _atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> Path:
    return _atomic(path, lambda handle: handle.write(data))


def write_lines_atomic(path: Union[str, Path], lines: Iterable[str]) -> Path:
    """Write ``lines`` as they come (a stream of results) under a temporary name, then rename: an
    error part-way leaves ``path`` as it was."""
    return _atomic(path, lambda handle: [handle.write(line.encode("utf-8")) for line in lines])


def write_json_atomic(path: Union[str, Path], obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_figure_atomic(fig, path: Union[str, Path], **savefig_kwargs: Any) -> Path:
    """A matplotlib figure, in the format of ``path``'s suffix (png, pdf, svg, ...)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    return _atomic(path, lambda handle: fig.savefig(handle, format=fmt, **savefig_kwargs))


def save_safetensors_atomic(
    tensors: Dict[str, torch.Tensor], path: Union[str, Path], metadata=None
) -> Path:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = safetensors.torch.save(tensors, metadata=metadata)
    return _atomic(path, lambda handle: handle.write(data))


__all__ = [
    "current_umask",
    "save_figure_atomic",
    "save_safetensors_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_lines_atomic",
    "write_text_atomic",
]
