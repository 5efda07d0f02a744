"""Reports of run folders and tuning studies: PNG figures (matplotlib, Agg) and one page
(``report.html``, self-contained, and ``report.md``). ``pip install 'ltzoo[report]'``.

Usage::

    from ltzoo.reporting import make_report
    out = make_report(["runs/digits_lt"], "reports/digits", study="sqlite:///runs/tune/wd/study.db")
    out["html"], out["figures"]["weight_norms"]

Command line: ``ltzoo report RUN_DIR [RUN_DIR ...] --output-dir DIR [--study URL --study-name NAME]``.
"""

from __future__ import annotations

from ltzoo.reporting.report import RUN_FIGURES, make_report
from ltzoo.reporting.runs import RunData, load_run, reliability_bins

__all__ = ["make_report", "load_run", "RunData", "reliability_bins", "RUN_FIGURES"]
