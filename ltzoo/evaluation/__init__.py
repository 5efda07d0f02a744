"""Evaluation of long-tailed classifiers from gathered logits; pure functions, CPU, float64.

Usage::

    from ltzoo.evaluation import evaluate_logits, format_table
    r = evaluate_logits(logits, targets, class_counts)  # Many/Medium/Few, head/tail, std, ECE, NLL
    print(format_table({"stage1": r}))

See :mod:`.metrics` (definitions, OLTR and Guo et al.), :mod:`.calibration` (temperature
scaling, logit adjustment) and :mod:`.table` (terminal tables).
"""

from ltzoo.evaluation.calibration import (
    apply_temperature,
    fit_temperature,
    logit_adjustment_bias,
    nll,
)
from ltzoo.evaluation.metrics import (
    binned_ece,
    class_group_indices,
    confidence_and_correct,
    confidence_bins,
    evaluate_logits,
    expected_calibration_error,
    mean_per_class_accuracy,
    per_class_accuracy,
    weight_norms,
)
from ltzoo.evaluation.table import (
    DEFAULT_COLUMNS,
    HEAD_TAIL_COLUMNS,
    format_per_class,
    format_table,
)

__all__ = [
    "evaluate_logits",
    "expected_calibration_error",
    "confidence_bins",
    "confidence_and_correct",
    "binned_ece",
    "class_group_indices",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "nll",
    "weight_norms",
    "fit_temperature",
    "apply_temperature",
    "logit_adjustment_bias",
    "format_table",
    "format_per_class",
    "DEFAULT_COLUMNS",
    "HEAD_TAIL_COLUMNS",
]
