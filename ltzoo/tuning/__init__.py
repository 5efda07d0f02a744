"""Hyper-parameter tuning with Optuna (``pip install 'ltzoo[tune]'``).

- :func:`tune`: TPE search over any recipe field given as a range, full two-stage runs scored on
  the validation split, median pruning on per-epoch validation accuracy, studies in an RDB
  (SQLite by default, any SQLAlchemy URL), best trial written as a recipe YAML (e.g. a
  weight-decay search on an 80/20 split).
- :func:`tune_posthoc`: tau, logit-adjustment strength and temperature of a finished run, tuned
  on its cached validation features in seconds.

Command line: ``ltzoo tune --help``.
"""

from ltzoo.tuning.objective import METRICS, Objective
from ltzoo.tuning.posthoc import POSTHOC, tune_posthoc
from ltzoo.tuning.search import EpochPruning, tune
from ltzoo.tuning.space import Param, SearchSpace, parse_param
from ltzoo.tuning.study import best_summary, open_storage, open_study, write_best

__all__ = [
    "tune",
    "tune_posthoc",
    "SearchSpace",
    "Param",
    "parse_param",
    "Objective",
    "METRICS",
    "POSTHOC",
    "EpochPruning",
    "open_storage",
    "open_study",
    "best_summary",
    "write_best",
]
