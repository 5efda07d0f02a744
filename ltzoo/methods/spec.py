"""What defines a long-tail method at the level of the zoo: the head it deploys and its paper.

The training side (which loss, which sampler, what stage 2 re-trains) lives in ``ltzoo.train``
and recipes; the zoo only needs to know which head plugin a ``<backbone>_<method>`` model has,
so that the zoo imports without the training code.
"""

from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass(frozen=True)
class MethodSpec:
    name: str
    head: str
    description: str
    paper: str
    head_kwargs: Dict[str, Any] = field(default_factory=dict)
