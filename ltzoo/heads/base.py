"""What every head plugin shares: its sizes, the kwargs to rebuild it, and its class weights.

A head maps pooled features (B, D) to logits (B, C). ``reset_classifier`` rebuilds a head of
the same type from ``type(head)(in_features, num_classes, **head.head_kwargs)``, so a plugin
must accept its own ``head_kwargs`` back. ``class_weight`` is the (C, D) matrix whose per-class
norms long-tail papers plot (Kang et al. ICLR'20 Fig. 2; Dang et al. AAAI'24 Fig. 1).
``classifier_modules`` names the head's submodules holding a class ``weight`` (``""``: the head
itself); timm's ``pretrained_cfg['classifier']`` names them.
"""

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn


class HeadBase(nn.Module):
    """Base class of the head plugins; subclasses set ``self.fc`` or override ``class_weight``."""

    classifier_modules: Tuple[str, ...] = ("fc",)
    # a plain-Python record, not part of the scripted model
    __jit_ignored_attributes__ = ["selection"]

    def __init__(self, in_features: int, num_classes: int, **head_kwargs: Any):
        super().__init__()
        if num_classes < 1:
            raise ValueError(
                f"num_classes={num_classes} is not allowed for a classifier head; must be >= 1"
            )
        self.in_features = in_features
        self.num_classes = num_classes
        self.head_kwargs: Dict[str, Any] = dict(head_kwargs)
        # what a stage-2 method chose on data for this head (tau-norm's tau and the split it was
        # chosen on, WD+MaxNorm's cap), recorded in results.json; empty when nothing was chosen
        self.selection: Dict[str, Any] = {}

    @property
    def class_weight(self) -> torch.Tensor:
        """The (C, D) per-class weight vectors the head scores features against."""
        return self.fc.weight

    def load_linear(self, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> None:
        """Start from a trained linear classifier (stage 1), as tau-norm and LWS do."""
        if tuple(weight.shape) != (self.num_classes, self.in_features):
            raise ValueError(
                f"linear weight of shape {tuple(weight.shape)} does not fit this head "
                f"(num_classes={self.num_classes}, in_features={self.in_features})"
            )
        with torch.no_grad():
            self.fc.weight.copy_(weight)
            if self.fc.bias is not None:
                if bias is None:
                    self.fc.bias.zero_()
                else:
                    self.fc.bias.copy_(bias)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.head_kwargs.items())
        return f"in_features={self.in_features}, num_classes={self.num_classes}{extra}"
