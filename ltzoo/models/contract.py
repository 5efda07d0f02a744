"""Helpers of the timm model contract that timm keeps in private modules: which feature levels
``forward_intermediates(indices=...)`` takes, and a backbone's parameter groups seen from the
module that wraps it."""

import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

IndicesT = Optional[Union[int, Sequence[int]]]


def take_indices(num_levels: int, indices: IndicesT = None) -> Tuple[List[int], int]:
    """The absolute feature levels to take and the deepest of them, as timm reads ``indices``:
    ``None`` all levels, an int the last ``n``, a sequence those levels (negative from the end)."""
    if indices is None:
        indices = num_levels
    if isinstance(indices, int):
        if not 0 < indices <= num_levels:
            raise ValueError(
                f"indices={indices} is not allowed; the last n levels need 1 <= n <= {num_levels}"
            )
        taken = list(range(num_levels - indices, num_levels))
    else:
        taken = [num_levels + i if i < 0 else i for i in indices]
        bad = [i for i, t in zip(indices, taken) if not 0 <= t < num_levels]
        if bad or not taken:
            raise ValueError(
                f"indices={list(indices)} is not allowed; feature levels are 0..{num_levels - 1} "
                f"(or -{num_levels}..-1 from the end)"
            )
    return taken, max(taken)


def _prefixed(pattern: str, prefix: str) -> str:
    # a leading ``^`` of the pattern or of any alternative/group moves in front of the prefix
    body = re.sub(r"(^|\||\()\^", r"\1", pattern)
    return f"^{re.escape(prefix)}(?:{body})"


def prefixed_group_matcher(matcher: Dict, prefix: str) -> Dict:
    """A timm ``group_matcher`` of a child module, for the parameter names seen from its parent
    (``conv1.weight`` -> ``backbone.conv1.weight``)."""
    out = {}
    for group, spec in matcher.items():
        if spec is None or isinstance(spec, str):
            out[group] = spec if spec is None else _prefixed(spec, prefix)
        else:
            out[group] = [(_prefixed(p, prefix), suffix) for p, suffix in spec]
    return out
