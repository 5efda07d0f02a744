"""Registered long-tail methods. Adding one: a file like ``lws.py`` plus its import line here;
the zoo then registers ``<backbone>_<method>`` for every backbone."""

from ltzoo.methods import ce, crt, iwb, lws, ncm, tau, wd_maxnorm  # noqa: F401  (registers the methods)
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def list_methods(pattern: str = "*") -> list:
    return METHODS.names(pattern)


__all__ = ["MethodSpec", "list_methods"]
