"""Head/tail experts (Lee, "long-tail problem", Yonsei University, 2022, Sec. 4.1): two classifiers, one
trained on the head half of the classes (the ``C // 2`` with most training images), one on the tail
half; each scores all ``C`` classes, and at test time each class takes its score from the expert
that owns it.

``combine`` says how the two outputs are put together:

* ``"concat"`` (Lee's first version, the baseline): ``z_c = z^head_c`` for a head class,
  ``z_c = z^tail_c`` for a tail class;
* ``"l1"`` (the normalisation Lee proposes, Sec. 5.5): each expert's output vector is first
  divided by the sum of its absolute values over all ``C`` classes, ``z^e / sum_j |z^e_j|``, so
  that neither expert's scale dominates the argmax; then as ``"concat"``.

``fc`` is the head expert, ``fc_tail`` the tail expert; the buffer ``tail_mask`` (C,) marks the
tail classes and travels with the weights (default: the second half by index, i.e. classes sorted
by count, as the long-tailed datasets are). ``class_weight`` gives each class its owner's row.
"""

import torch
import torch.nn as nn

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS

COMBINE = ("concat", "l1")


@HEADS.register("experts")
class ExpertsHead(HeadBase):
    classifier_modules = ("fc", "fc_tail")

    def __init__(self, in_features: int, num_classes: int, combine: str = "l1", bias: bool = True):
        if combine not in COMBINE:
            raise ValueError(
                f"experts head: combine={combine!r} is not allowed; allowed: {', '.join(COMBINE)}"
            )
        super().__init__(in_features, num_classes, combine=combine, bias=bias)
        self.combine = combine
        self.fc = nn.Linear(in_features, num_classes, bias=bias)
        self.fc_tail = nn.Linear(in_features, num_classes, bias=bias)
        mask = torch.zeros(num_classes, dtype=torch.bool)
        mask[num_classes // 2 :] = True
        self.register_buffer("tail_mask", mask)

    def set_tail_classes(self, tail_classes) -> None:
        """Mark ``tail_classes`` (indices) as the tail expert's; the others are the head expert's."""
        mask = torch.zeros(self.num_classes, dtype=torch.bool)
        mask[torch.as_tensor(list(tail_classes), dtype=torch.long)] = True
        if mask.all() or not mask.any():
            raise ValueError("experts head: both experts need at least one class")
        self.tail_mask.copy_(mask)

    def set_combine(self, combine: str) -> None:
        if combine not in COMBINE:
            raise ValueError(
                f"experts head: combine={combine!r} is not allowed; allowed: {', '.join(COMBINE)}"
            )
        self.combine = self.head_kwargs["combine"] = combine

    def load_linear(self, weight, bias=None) -> None:
        """Both experts start from the same linear classifier (stage 1)."""
        super().load_linear(weight, bias)
        self.fc_tail.load_state_dict(self.fc.state_dict())

    @property
    def class_weight(self) -> torch.Tensor:
        return torch.where(self.tail_mask[:, None], self.fc_tail.weight, self.fc.weight)

    def expert_logits(self, x: torch.Tensor):
        """The two experts' raw outputs (B, C) each, before combining."""
        return self.fc(x), self.fc_tail(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = self.expert_logits(x)
        if self.combine == "l1":
            head = head / head.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)
            tail = tail / tail.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)
        return torch.where(self.tail_mask, tail, head)
