"""One small generic registry for heads, losses, samplers, datasets and methods.

Like torchvision's model registry (and unlike timm's), registering a name twice is an error:
a plugin can never silently replace a built-in. Third-party packages add entries through a
Python entry-point group (``ltzoo.heads`` for heads), read lazily the first time the registry
is asked for a name it does not hold, or for its listing.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List, Optional

from ltzoo.errors import InputError


class UnknownNameError(InputError):
    """A name that is not in a registry; the message lists the valid names."""


def check_options(
    kind: str, name: str, builder: Callable, options: Iterable[str], fixed: Iterable[str] = ()
) -> None:
    """InputError naming the options ``builder``'s signature does not take (its parameters less
    ``fixed`` and ``self``), and listing the ones it does: ``<kind> 'name' does not take [...]``."""
    allowed = [p for p in inspect.signature(builder).parameters if p not in ("self", *fixed)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(
            f"{kind} {name!r} does not take {unknown}; its options are: {', '.join(allowed) or '(none)'}"
        )


def unknown_name_message(kind: str, name: str, valid: Iterable[str]) -> str:
    """``unknown <kind> 'name'; did you mean 'x'? valid: a, b, c`` (shared by every lookup)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"unknown {kind} {name!r}{hint} Valid {kind} names: {', '.join(valid) or '(none)'}"


class Registry:
    """A name -> object table with a decorator, clear errors and entry-point plugins.

    >>> HEADS = Registry("head", entry_point_group="ltzoo.heads")
    >>> @HEADS.register("linear")
    ... class LinearHead: ...
    >>> HEADS.get("linear")
    <class 'ltzoo.registry.LinearHead'>
    """

    def __init__(self, kind: str, entry_point_group: Optional[str] = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: Dict[str, Any] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, name: Optional[str] = None, obj: Any = None) -> Callable:
        """Register ``obj`` under ``name``; use as ``@REG.register("name")`` or call directly."""

        def _add(target: Any) -> Any:
            key = name or getattr(target, "__name__", None)
            if not key:
                raise ValueError(
                    f"cannot register {target!r} in the {self.kind} registry without a name"
                )
            if key in self._entries and self._entries[key] is not target:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered (by {self._entries[key]!r}); "
                    "choose another name"
                )
            self._entries[key] = target
            return target

        return _add(obj) if obj is not None else _add

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry_point in metadata.entry_points(group=self.entry_point_group):
            if entry_point.name in self._entries:
                raise ValueError(
                    f"plugin {entry_point.value!r} (entry point group {self.entry_point_group!r}) "
                    f"registers {self.kind} {entry_point.name!r}, which already exists"
                )
            self._entries[entry_point.name] = entry_point.load()

    def get(self, name: str) -> Any:
        """The object registered as ``name``; an unknown name raises with the valid names."""
        if name not in self._entries:
            self._load_plugins()
        if name not in self._entries:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._entries))
        return self._entries[name]

    def names(self, pattern: str = "*") -> List[str]:
        """Sorted registered names matching a shell-style ``pattern``."""
        self._load_plugins()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


# The project's tables. Each concept's package fills its own table on import.
HEADS = Registry("head", entry_point_group="ltzoo.heads")
LOSSES = Registry("loss")
SAMPLERS = Registry("sampler")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform preset")
METHODS = Registry("method")
