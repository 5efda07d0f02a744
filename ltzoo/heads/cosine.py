"""Cosine (normalised) head: ``z_i = s * <x/|x|, w_i/|w_i|>``.

Both features and class weights are L2-normalised, so every class has the same weight norm;
``s`` is a fixed (or learnable) scale. Used as a balanced classifier in the decoupling study
(Kang et al., ICLR'20, Sec. 4) and cosine classifiers generally (Gidaris & Komodakis, CVPR'18).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS


@HEADS.register("cosine")
class CosineHead(HeadBase):
    def __init__(
        self, in_features: int, num_classes: int, scale: float = 16.0, learn_scale: bool = False
    ):
        super().__init__(in_features, num_classes, scale=scale, learn_scale=learn_scale)
        self.fc = nn.Linear(in_features, num_classes, bias=False)
        scale_tensor = torch.tensor(float(scale))
        if learn_scale:
            self.scale = nn.Parameter(scale_tensor)
        else:
            self.register_buffer("scale", scale_tensor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(x, dim=1), F.normalize(self.fc.weight, dim=1))
