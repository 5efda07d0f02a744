"""What a study maximises: a validation metric, or a weighted sum of them.

``--objective`` takes a metric name or a linear combination, always maximised::

    mean_per_class          balanced accuracy (the default; tau is picked by it)
    few                     Few-shot accuracy (classes with < 20 training images)
    0.5*few+0.5*overall     a weighted combination
    top1-0.5*ece            subtract what should be small (ECE, NLL, per-class std)

The metrics are those of :func:`ltzoo.evaluation.evaluate_logits` computed on the VALIDATION split
carved from the training set, never on the test set.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping

from ltzoo.errors import ConfigError, InputError

METRICS = (
    "top1",
    "top5",
    "mean_per_class",
    "many",
    "medium",
    "few",
    "head",
    "tail",
    "per_class_std",
    "ece",
    "nll",
)
ALIASES = {
    "overall": "top1",
    "all": "top1",
    "accuracy": "top1",
    "acc": "top1",
    "balanced": "mean_per_class",
    "mpc": "mean_per_class",
    "std": "per_class_std",
}
_TERM = re.compile(
    r"\s*([+-]?)\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*\*\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*"
)


class Objective:
    """``weights``: metric -> weight; ``score(metrics)`` is their weighted sum (higher is better)."""

    def __init__(self, weights: Mapping[str, float], text: str = ""):
        self.weights = dict(weights)
        self.text = text or "+".join(f"{w:g}*{m}" for m, w in self.weights.items())

    @classmethod
    def parse(cls, text: str) -> "Objective":
        """``"0.5*few+0.5*overall"`` -> ``Objective({"few": 0.5, "top1": 0.5})`` (raises ``ConfigError``)."""
        source, weights, pos = str(text).strip(), {}, 0
        while pos < len(source):
            match = _TERM.match(source, pos)
            if not match or match.end() == pos or (pos > 0 and not match.group(1)):
                raise ConfigError(
                    f"--objective {text!r} is not understood at {source[pos:]!r}; expected a metric or a weighted sum "
                    f"such as 0.5*few+0.5*overall; metrics: {', '.join(METRICS)} (aliases: {', '.join(ALIASES)})"
                )
            sign, weight, name = match.groups()
            metric = ALIASES.get(name.lower(), name.lower())
            if metric not in METRICS:
                raise ConfigError(
                    f"--objective {text!r}: metric {name!r} is not allowed; allowed: {', '.join(METRICS)} "
                    f"(aliases: {', '.join(f'{a}={m}' for a, m in ALIASES.items())})"
                )
            value = float(weight) if weight else 1.0
            weights[metric] = weights.get(metric, 0.0) + (-value if sign == "-" else value)
            pos = match.end()
        if not weights:
            raise ConfigError(f"--objective is empty; allowed metrics: {', '.join(METRICS)}")
        return cls(weights, source)

    def score(self, metrics: Dict[str, Any]) -> float:
        """The objective of one evaluation (``evaluate_logits`` output); a missing group raises."""
        total = 0.0
        for metric, weight in self.weights.items():
            value = metrics.get(metric)
            if value is None:
                sizes = metrics.get("group_sizes", {})
                raise InputError(
                    f"objective {self.text!r}: metric {metric!r} is undefined on the validation split "
                    f"(group sizes {sizes}); e.g. no Few classes with data.few_threshold="
                    f"{metrics.get('thresholds', {}).get('few')}; choose another --objective"
                )
            total += weight * float(value)
        return total

    def __repr__(self) -> str:
        return f"Objective({self.text!r})"
