"""Linear head: ``z = W x + b``, the classifier of plain cross-entropy training and of cRT."""

import torch
import torch.nn as nn

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS


@HEADS.register("linear")
class LinearHead(HeadBase):
    def __init__(self, in_features: int, num_classes: int, bias: bool = True):
        super().__init__(in_features, num_classes, bias=bias)
        self.fc = nn.Linear(in_features, num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)
