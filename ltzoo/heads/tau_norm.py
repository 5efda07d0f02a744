"""tau-normalised head (Kang et al., "Decoupling Representation and Classifier for Long-Tailed
Recognition", ICLR'20, Eq. 2): ``w~_i = w_i / ||w_i||^tau``, ``z = W~ x + b``.

``tau`` is a buffer so that a calibrated value travels with the weights; ``tau = 0`` is the
plain linear head and ``tau = 1`` full L2 normalisation. The bias is left as trained.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS


def tau_normalize(weight: torch.Tensor, tau) -> torch.Tensor:
    """``w_i / ||w_i||^tau`` for every row ``w_i`` of a (C, D) classifier weight (Kang et al. ICLR'20,
    Eq. 2); norms below 1e-12 count as 1e-12. ``tau``: a float or a 0-d tensor."""
    return weight / weight.norm(p=2, dim=1, keepdim=True).clamp_min(1e-12).pow(tau)


@HEADS.register("tau_norm")
class TauNormHead(HeadBase):
    def __init__(self, in_features: int, num_classes: int, tau: float = 1.0, bias: bool = True):
        super().__init__(in_features, num_classes, tau=tau, bias=bias)
        self.fc = nn.Linear(in_features, num_classes, bias=bias)
        self.register_buffer("tau", torch.tensor(float(tau)))

    def set_tau(self, tau: float) -> None:
        self.tau.fill_(float(tau))
        self.head_kwargs["tau"] = float(tau)

    @property
    def class_weight(self) -> torch.Tensor:
        """The weights the head scores with: ``w_i / ||w_i||^tau``."""
        return self.normalized_weight()

    def normalized_weight(self) -> torch.Tensor:
        return tau_normalize(self.fc.weight, self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.fc.bias)
