"""Nearest class mean head (Kang et al., ICLR'20, Sec. 4 "NCM"; Mensink et al., TPAMI'13).

The class means of L2-normalised training features are kept in ``weight`` (C, D) (named as a
classifier's weight, so that timm's ``pretrained_cfg['classifier'] = 'head'`` names it;
``class_means`` reads it, and files saved with the older key ``class_means`` still load); a
sample scores ``cos(x, mu_i)`` (``metric="cosine"``) or ``-||x - mu_i||_2``
(``metric="euclidean"``) on the normalised feature. ``fit(features, labels)`` computes the means.

``weight`` is a parameter, as a timm classifier's is (timm's model tests move, reset and
back-propagate through the classifier's parameters): the NCM method never trains it (its stage 2
only calls ``fit``), and its state-dict key is the same as a buffer's.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltzoo.heads.base import HeadBase
from ltzoo.registry import HEADS

METRICS = ("cosine", "euclidean")


@HEADS.register("ncm")
class NCMHead(HeadBase):
    classifier_modules = ("",)

    def __init__(self, in_features: int, num_classes: int, metric: str = "cosine"):
        if metric not in METRICS:
            raise ValueError(
                f"ncm head: metric={metric!r} is not allowed; allowed: {', '.join(METRICS)}"
            )
        super().__init__(in_features, num_classes, metric=metric)
        self.metric = metric
        self.weight = nn.Parameter(torch.zeros(num_classes, in_features))

    @property
    def class_means(self) -> torch.Tensor:
        return self.weight

    @property
    def class_weight(self) -> torch.Tensor:
        return self.weight

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights saved before the buffer was named ``weight`` hold it as ``class_means``
        if prefix + "class_means" in state_dict and prefix + "weight" not in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "class_means")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def load_linear(self, weight, bias=None) -> None:
        raise TypeError(
            "the ncm head has no linear weights; fit it with head.fit(features, labels)"
        )

    @torch.no_grad()
    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Set each class mean to the mean of that class's L2-normalised features."""
        features = F.normalize(features.float(), dim=1)
        labels = labels.long()
        counts = torch.bincount(labels, minlength=self.num_classes)
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(
                f"ncm head: no features for classes {missing[:20]}; every class needs at least one"
            )
        sums = torch.zeros_like(self.weight).index_add_(0, labels, features.to(self.weight))
        self.weight.copy_(sums / counts.unsqueeze(1).to(sums))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=1)
        if self.metric == "cosine":
            return F.linear(x, F.normalize(self.weight, dim=1))
        return -torch.cdist(x, self.weight.to(x.dtype))
