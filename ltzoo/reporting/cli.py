"""``ltzoo report``: the command line of :mod:`ltzoo.reporting`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ltzoo.cli_types import check_not_an_input, folder, output_folder, text

EPILOG = """examples:
  ltzoo report runs/digits_lt                                   # -> runs/digits_lt-report/report.html
  ltzoo report runs/a runs/b --labels CE,LDAM --methods stage1,lws,iwb --output-dir reports/cmp
  ltzoo report runs/tune/wd/trial_0003 --study sqlite:///runs/tune/wd/study.db --study-name wd
  ltzoo report --study sqlite:///study.db                        # the study alone
"""


def add_report_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="figures and an HTML/Markdown page for run folders and tuning studies",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dirs",
        nargs="*",
        type=text,  # a missing folder, or one without results.json, is named by the command
        metavar="RUN_DIR",
        help="run folders written by ltzoo train / ltzoo tune",
    )
    p.add_argument(
        "--output-dir",
        type=output_folder,
        help="where the PNGs and report.html/report.md go (default: FIRST_RUN-report, or "
        "study-report); not a run folder, nor inside one",
    )
    p.add_argument(
        "--labels", type=text, help="comma list of names for the runs (default: folder names)"
    )
    p.add_argument(
        "--methods",
        type=text,
        help="comma list of methods to show, in order (default: all of the run's)",
    )
    p.add_argument(
        "--study",
        type=text,
        metavar="URL",
        help="Optuna storage of a study to plot, e.g. sqlite:///runs/tune/wd/study.db",
    )
    p.add_argument("--study-name", type=text, help="study in --study (default: its only study)")
    p.add_argument(
        "--no-reliability",
        action="store_true",
        help="skip the reliability diagram (it reloads each model)",
    )
    p.add_argument(
        "--data-root",
        type=folder,
        help="dataset root for the reliability diagram, if it moved since training",
    )
    p.add_argument(
        "--title", help="page title (default, also when empty: ltzoo report: and the runs' labels)"
    )
    p.set_defaults(func=cmd_report)
    return p


def _split(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_report(args: argparse.Namespace) -> int:
    from ltzoo.reporting import make_report
    from ltzoo.run_folder import hold

    default = f"{str(args.run_dirs[0]).rstrip('/')}-report" if args.run_dirs else "study-report"
    output_dir = args.output_dir or default
    check_not_an_input("--output-dir", output_dir, args.run_dirs)  # a run folder has one writer
    for run_dir in args.run_dirs:  # no run is read while another command writes it
        if Path(run_dir).is_dir():  # what is not a folder, make_report names
            hold(run_dir, "run folder")
    out = make_report(
        args.run_dirs,
        output_dir=output_dir,
        labels=_split(args.labels),
        methods=_split(args.methods),
        study=args.study,
        study_name=args.study_name,
        reliability=not args.no_reliability,
        data_root=args.data_root,
        title=args.title,
        # the output folder has one writer: a second report into it is refused, naming the first
        before_writing=lambda folder: hold(folder, "--output-dir"),
    )
    for path in out["figures"].values():
        print(f"figure: {path}")
    for note in out["notes"]:
        print(f"note: {note}")
    print(f"report: {out['html']}  (and {Path(out['markdown']).name})")
    return 0
