"""Evaluation metrics (Many/Medium/Few, head/tail, per-class std, ECE, NLL), calibration and tables.

A thin re-export of :mod:`ltzoo.evaluation`; see there for the definitions.
"""

from ltzoo.evaluation import (  # noqa: F401
    DEFAULT_COLUMNS,
    HEAD_TAIL_COLUMNS,
    _groups,
    _halves,
    apply_temperature,
    evaluate_logits,
    expected_calibration_error,
    fit_temperature,
    format_per_class,
    format_table,
    logit_adjustment_bias,
    nll,
    weight_norms,
)
from ltzoo.evaluation import __all__  # noqa: F401
