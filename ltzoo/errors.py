"""Errors about what a user gave ltzoo (a recipe key, a file, a command-line value) or about the
storage it writes to.

The ``ltzoo`` command prints these as one line and exits with status 2; any other exception is
a bug, and keeps its traceback.
"""

from __future__ import annotations

import errno
from typing import Optional

# what a write can meet that is the storage's state, not a bug: full disk, quota, read-only, no permission
STORAGE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class InputError(ValueError):
    """Bad input from the user; the message names the input, the value and what is allowed."""


class ConfigError(InputError):
    """A recipe or override that does not fit the config schema."""


class StorageError(InputError):
    """A file could not be written because of the storage (full disk, quota, read-only, permission)."""


class RandomWeightsWarning(UserWarning):
    """A model was built from a ``local-dir:`` or ``hf-hub:`` name without ``pretrained=True``: it
    has the saved architecture and random weights, as in timm."""


class HubError(InputError):
    """The Hugging Face Hub refused a request or could not be reached; the message says what is
    (or is not) on the Hub afterwards."""


def storage_error(
    error: BaseException, path: Optional[object] = None, kept: str = ""
) -> Optional[StorageError]:
    """``error`` as a :class:`StorageError` naming ``path`` (or the file the OS names) when it is a
    storage condition (:data:`STORAGE_ERRNOS`), else ``None``. ``kept`` says what is left intact."""
    if isinstance(error, StorageError) and isinstance(error.__cause__, OSError):
        error = error.__cause__
    if not isinstance(error, OSError) or error.errno not in STORAGE_ERRNOS:
        return None
    name = path if path is not None else error.filename
    where = f"cannot write {str(name)!r}" if name is not None else "cannot write a file"
    return StorageError(
        f"{where}: {STORAGE_ERRNOS[error.errno]} ({errno.errorcode[error.errno]}); "
        f"{kept + '; ' if kept else ''}free space or fix the permissions, then run the command again"
    )


__all__ = [
    "ConfigError",
    "HubError",
    "InputError",
    "STORAGE_ERRNOS",
    "StorageError",
    "storage_error",
]
