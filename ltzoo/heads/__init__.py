"""Head plugins: one registered head per file. Third-party heads register through the Python
entry-point group ``ltzoo.heads`` (``name = "package.module:HeadClass"``)."""

from ltzoo.heads import cosine, experts, linear, lws, ncm, tau_norm  # noqa: F401  (registers the heads)
from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS, check_options


def create_head(name: str, in_features: int, num_classes: int, **kwargs) -> HeadBase:
    """Build the head registered as ``name``; an unknown name lists the valid ones."""
    head_cls = HEADS.get(name)
    check_options("head", name, head_cls.__init__, kwargs, fixed=("in_features", "num_classes"))
    return head_cls(in_features, num_classes, **kwargs)


def head_from_stage1(name: str, stage1_head: HeadBase, **kwargs) -> HeadBase:
    """A ``name`` head of ``stage1_head``'s size, started from its linear classifier (weight and
    bias): where tau-norm, LWS, IWB, WD+MaxNorm and LAS begin."""
    head = create_head(name, stage1_head.in_features, stage1_head.num_classes, **kwargs)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    return head


def list_heads(pattern: str = "*") -> list:
    return HEADS.names(pattern)


__all__ = ["HeadBase", "create_head", "head_from_stage1", "list_heads"]
