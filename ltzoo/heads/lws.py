"""Learnable weight scaling (Kang et al., ICLR'20, Sec. 4 "LWS"): ``z_i = f_i * (w_i x + b_i)``.

Stage 2 keeps the stage-1 ``W, b`` fixed and learns only the per-class scales ``f`` (initialised
to 1) with class-balanced sampling.
"""

import torch
import torch.nn as nn

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS


@HEADS.register("lws")
class LWSHead(HeadBase):
    def __init__(self, in_features: int, num_classes: int, bias: bool = True):
        super().__init__(in_features, num_classes, bias=bias)
        self.fc = nn.Linear(in_features, num_classes, bias=bias)
        self.scales = nn.Parameter(torch.ones(num_classes))

    @property
    def class_weight(self) -> torch.Tensor:
        return self.fc.weight * self.scales.unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scales
