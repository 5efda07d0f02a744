"""The ``ltzoo`` command: ``ltzoo train|eval|data|models``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="recipe YAML (default: the embedded digits-LT recipe)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe field, e.g. --set stage1.epochs=5 (repeatable)")
    parser.add_argument("--output-dir", help="run folder (same as --set output_dir=...)")


def cmd_train(args: argparse.Namespace) -> int:
    from ltzoo.train.config import load_config
    from ltzoo.train.run import run

    overrides = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
    run(load_config(args.config, overrides))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ltzoo.evaluate import format_per_class, format_table
    from ltzoo.train.reload import evaluate_run

    methods, class_names = evaluate_run(args.run_dir, data_root=args.data_root)
    print(format_table(methods))
    print(format_per_class(methods, class_names=class_names))
    return 0


def cmd_data_describe(args: argparse.Namespace) -> int:
    from ltzoo.data.describe import describe, format_description, plot_counts

    description = describe(args.name, root=args.root, imbalance=args.imb, profile=args.profile)
    print(format_description(description))
    if args.plot:
        plot_counts(description, args.plot)
        print(f"plot: {args.plot}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import ltzoo

    if args.markdown:
        from ltzoo.model_table import model_table_markdown

        print(model_table_markdown())
        return 0
    for name in ltzoo.list_models(args.pattern, pretrained=args.pretrained):
        print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltzoo", description="Long-tailed recognition model zoo")
    sub = parser.add_subparsers(dest="command")

    train = sub.add_parser("train", help="two-stage training + evaluation (default: embedded digits-LT)")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="reload a run folder and print its metrics")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data-root", help="dataset root, if it moved since training")
    evaluate.set_defaults(func=cmd_eval)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command")
    describe = data.add_parser("describe", help="print a dataset's long-tail profile")
    describe.add_argument("name")
    describe.add_argument("--root")
    describe.add_argument("--imb", type=float, default=100.0, help="imbalance factor (100) or ratio (0.01)")
    describe.add_argument("--profile", default="exp", choices=("exp", "step", "none"))
    describe.add_argument("--plot", help="write a bar plot of the class counts to this PNG")
    describe.set_defaults(func=cmd_data_describe)

    models = sub.add_parser("models", help="list registered models")
    models.add_argument("pattern", nargs="?", default="*")
    models.add_argument("--pretrained", action="store_true", help="only tags with published weights")
    models.add_argument("--markdown", action="store_true", help="print the README's model table")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"ltzoo {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
