"""Registered long-tail methods, one file each (``crt.py`` is a short example).

Adding one: a file that registers its :class:`~ltzoo.methods.spec.MethodSpec` in
``ltzoo.registry.METHODS``, plus its name on the import line below. The zoo then registers
``<backbone>_<method>`` for every backbone, and ``stage2.methods`` can list it.
"""

from ltzoo.methods import ce, crt, experts, iwb, las, lws, ncm, tau, wd_maxnorm  # noqa: F401  (registers the methods)
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def list_methods(pattern: str = "*") -> list:
    """Every registered method matching a shell-style ``pattern``."""
    return METHODS.names(pattern)


def zoo_methods() -> list:
    """The methods the zoo registers a ``<backbone>_<method>`` entrypoint for."""
    return [name for name in METHODS.names() if METHODS.get(name).in_zoo]


def stage2_methods() -> list:
    """The methods ``stage2.methods`` can list (those with a stage-2 ``fit``)."""
    return [name for name in METHODS.names() if METHODS.get(name).fit is not None]


__all__ = ["MethodSpec", "list_methods", "stage2_methods", "zoo_methods"]
