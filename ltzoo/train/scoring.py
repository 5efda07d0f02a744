"""Scoring stage-2 heads on cached features, and the protocol ``results.json`` states its numbers
were measured with."""

from __future__ import annotations

from typing import Any, Dict

from ltzoo.evaluation import evaluate_logits, weight_norms
from ltzoo.train.config import RunConfig
from ltzoo.train.features import head_logits

# how results.json's numbers were measured: the headline is the last-epoch model without test-time
# augmentation; a TTA protocol's numbers are stored beside it (tta.<mode>), never instead of it
PROTOCOLS = {
    "none": {"model": "last epoch", "tta": "none"},
    "flip": {
        "model": "last epoch",
        "tta": "flip",
        "logits": "mean of the logits of the image and of its horizontal mirror",
    },
}


def evaluate_heads(
    heads: Dict[str, Any], test_features, class_counts, cfg: RunConfig, mirrored=None
) -> Dict[str, Dict[str, Any]]:
    """Metrics of every head on cached features; with the ``mirrored`` images' features, of the flip TTA."""
    results = {}
    for name, head in heads.items():
        metrics = evaluate_logits(
            head_logits(head, test_features, mirrored=mirrored),
            test_features.labels,
            class_counts,
            many=cfg.data.many_threshold,
            few=cfg.data.few_threshold,
        )
        metrics["weight_norms"] = weight_norms(head.class_weight.detach())
        if head.selection:
            metrics["selection"] = head.selection
        results[name] = metrics
    return results


__all__ = ["PROTOCOLS", "evaluate_heads"]
