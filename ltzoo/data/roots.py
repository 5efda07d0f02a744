"""Where a dataset's ``root`` points: the one rule that lets a machine keep its data elsewhere.

Recipes name roots inside the project, under ``data/`` (``data/cifar100``, ``data/cifar10``), read
relative to the working directory. The environment variable ``LTZOO_DATA_ROOT`` moves that
``data/`` folder: when it is set, a relative root whose first part is ``data`` resolves to
``$LTZOO_DATA_ROOT`` joined with the rest (``data/cifar100`` -> ``$LTZOO_DATA_ROOT/cifar100``), made
absolute. Every other root (absolute, ``~/...``, or relative but not under ``data/``) is used as
given, ``~`` expanded. Resolving a resolved root changes nothing.
"""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Optional

ENV_VAR = "LTZOO_DATA_ROOT"
PROJECT_DATA = "data"


def resolve_root(root) -> Optional[str]:
    """``root`` with the ``LTZOO_DATA_ROOT`` rule applied (see the module); ``None`` stays ``None``."""
    if root is None:
        return None
    path = os.path.expanduser(str(root))
    override = os.environ.get(ENV_VAR)
    parts = PurePath(path).parts
    if not override or os.path.isabs(path) or not parts or parts[0] != PROJECT_DATA:
        return path
    return os.path.abspath(os.path.join(os.path.expanduser(override), *parts[1:]))


def where_to_get() -> str:
    """The sentence a missing-root error ends with: the override in force, or how to set one."""
    override = os.environ.get(ENV_VAR)
    if override:
        return f"{ENV_VAR}={override} is set, so recipe roots under {PROJECT_DATA}/ are read from there"
    return (
        f"to read an existing copy, set {ENV_VAR} to the folder holding it (a recipe's "
        f"{PROJECT_DATA}/<name> then reads ${ENV_VAR}/<name>)"
    )


__all__ = ["ENV_VAR", "resolve_root", "where_to_get"]
