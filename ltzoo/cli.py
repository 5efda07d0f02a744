"""The ``ltzoo`` command: ``ltzoo train|eval|calibrate|predict|data|models|push|tune|report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ltzoo import cli_types as types
from ltzoo.errors import InputError


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=types.file, help="recipe YAML (default: the embedded digits-LT recipe)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set stage1.epochs=5 (repeatable)",
    )
    parser.add_argument(
        "--output-dir", type=types.output_folder, help="run folder (same as --set output_dir=...)"
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        type=types.text,
        metavar="CHECKPOINT",
        help="continue from the newest complete checkpoint of the run folder (or the one given)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in a run folder that holds files (ltzoo's files in it are deleted first)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved recipe and every stage-2 method's effective settings, then exit",
    )


def add_allow_other_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-other-data",
        action="store_true",
        help="the data's class names may come in another order than the run's: map the classes "
        "by name (without it, data whose class names or order differ from the run's is refused "
        "before anything runs; names missing on either side are refused either way)",
    )


def cmd_train(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from ltzoo.train.config import dump_config, load_config
    from ltzoo.train.run import check_names, format_results, format_settings, run
    from ltzoo.train.stage1 import TrainingInterrupted

    overrides = list(args.overrides) + (
        [f"output_dir={args.output_dir}"] if args.output_dir is not None else []
    )
    if args.resume:
        overrides.append(f"engine.resume={args.resume}")
    cfg = load_config(args.config, overrides)
    if args.print_config:
        resolved = check_names(cfg)
        print(dump_config(cfg), end="")
        print("# effective settings (method defaults < stage2.* < stage2.method_options.<method>):")
        print("\n".join(f"# {line}" for line in format_settings(cfg, resolved).splitlines()))
        return 0
    try:
        results = run(
            cfg, overwrite=args.overwrite
        )  # logs its settings and progress (main process)
    except TrainingInterrupted as stop:
        print(f"ltzoo train: {stop}", file=sys.stderr)
        return 143
    if PartialState().is_main_process:
        print(format_results(results, cfg.output_dir))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ltzoo.evaluation import format_per_class, format_table
    from ltzoo.run_folder import check_run_dir, hold
    from ltzoo.train.reload import evaluate_run_protocols, store_tta
    from ltzoo.train.run import format_tta_table

    hold(check_run_dir(args.run_dir), "run folder")
    scored, class_names = evaluate_run_protocols(
        args.run_dir,
        data_root=args.data_root,
        tta=args.tta,
        allow_other_data=args.allow_other_data,
    )
    methods = scored["none"]
    print(format_table(methods))
    print(format_per_class(methods, class_names=class_names))
    if args.tta != "none":
        print(format_tta_table(args.tta, scored[args.tta]))
        store_tta(args.run_dir, args.tta, scored[args.tta])
        print(f"stored in {args.run_dir}/results.json under tta.{args.tta}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ltzoo.run_folder import check_run_dir, hold
    from ltzoo.train.calibrate import calibrate_run, format_report

    hold(check_run_dir(args.run_dir), "run folder")
    report = calibrate_run(
        args.run_dir,
        target_prior=args.target_prior,
        tau=args.tau,
        data_root=args.data_root,
        allow_other_data=args.allow_other_data,
    )
    print(format_report(report))
    return 0


def _check_plot_name(name: str) -> None:
    """``--plot``'s file type must be one matplotlib writes (png, pdf, svg, ...)."""
    try:  # an optional dependency (the report extra): without it, plot_counts says so
        from matplotlib.figure import Figure
    except ImportError:
        return

    types = Figure().canvas.get_supported_filetypes()
    suffix = Path(name).suffix.lstrip(".").lower()
    if suffix not in types:
        raise InputError(
            f"--plot {name!r}: the file type {suffix or '(none)'!r} is not allowed; "
            f"allowed: {', '.join(sorted(types))}"
        )
    if Path(name).is_dir() or not Path(name).parent.is_dir():
        raise InputError(f"--plot {name!r} must be a file in a folder that exists")


def cmd_data_describe(args: argparse.Namespace) -> int:
    from ltzoo.data.describe import describe, format_description, plot_counts

    description = describe(
        args.name,
        root=args.root,
        imbalance=args.imb,
        profile=args.profile,
        **({"official_split": False} if args.own_split else {}),
    )
    if args.plot:  # before any work: a file type matplotlib cannot write
        _check_plot_name(args.plot)
    print(format_description(description))
    if args.plot:
        plot_counts(description, args.plot)
        print(f"plot: {args.plot}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Exit 0 when every split file is the official one; a file that is not fails in one line (exit 2)."""
    from ltzoo.data.official import check_dataset

    for record in check_dataset(args.name, args.root, split_dir=args.split_dir):
        print(
            f"{record['file']}: {record['images']:,} images, {record['classes']:,} classes, "
            f"sha256 {record['sha256']}: official"
        )
    print(f"{args.name}: official split")
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


def _announce_push(repo_id: str, revision: Optional[str]):
    def announce(folder) -> None:
        files = sorted(p for p in folder.iterdir() if p.is_file())
        total = sum(p.stat().st_size for p in files)
        print(
            f"ltzoo push: uploading {len(files)} files ({total:,} bytes) to {repo_id}, revision "
            f"{revision or 'main'}, in one commit:"
        )
        for path in files:
            print(f"  {path.name}  {path.stat().st_size:,} bytes")
        sys.stdout.flush()

    return announce


def cmd_push(args: argparse.Namespace) -> int:
    """Publish a run folder to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from ltzoo.hub import export_for_hub, push_to_hub

    try:
        validate_repo_id(args.repo_id)
    except HFValidationError as error:
        raise InputError(f"--repo-id {args.repo_id!r} is not allowed: {error}") from None
    types.check_not_an_input("--save-dir", args.save_dir, [args.run_dir])
    try:
        if args.save_dir:
            folder = export_for_hub(args.run_dir, args.save_dir, repo_id=args.repo_id)
            print(f"repository folder (not uploaded): {folder}")
            return 0
        info = push_to_hub(
            args.run_dir,
            args.repo_id,
            private=args.private or None,
            revision=args.revision,
            commit_message=args.commit_message,
            announce=_announce_push(args.repo_id, args.revision),
        )
    except FileExistsError as error:  # export_for_hub refuses a used --save-dir before writing
        raise InputError(f"--save-dir: {error}") from None
    except RuntimeError as error:  # weights that do not fit the architecture
        print(f"ltzoo push: error: {error}", file=sys.stderr)
        return 1
    print(f"pushed {args.run_dir} to {args.repo_id}: {info.commit_url}")
    return 0


def _checked_json_output(target: Optional[str], images: List[str]) -> Optional[Path]:
    """``--json``'s file, checked before anything is opened: not a folder, not one of the images,
    in a folder that exists (``-`` and no ``--json``: ``None``)."""
    if target in (None, "-"):
        return None
    path = Path(target)
    if path.is_dir():
        raise InputError(f"--json {target!r} is a folder; give a file name such as preds.jsonl")
    if not path.parent.is_dir():
        raise InputError(f"--json {target!r}: the folder {str(path.parent)!r} does not exist")
    if any(Path(image).resolve() == path.resolve() for image in images):
        raise InputError(f"--json {target!r} is one of the images to predict; write elsewhere")
    return path


def cmd_predict(args: argparse.Namespace) -> int:
    """Top-k classes per image; unreadable files are named on stderr and skipped (exit status 1).
    Every option is checked, and the model loaded, before ``--json`` is written: to a temporary
    name, renamed when all images are done, so an error leaves an existing file as it was."""
    import json

    from ltzoo.atomic import write_lines_atomic
    from ltzoo.inference import check_data_args, iter_predictions, load_for_inference

    output = _checked_json_output(args.json, args.images)
    skipped = []

    def report(name, error):
        skipped.append(name)
        print(
            f"ltzoo predict: skipped {name}: {error.__cause__ or error}",
            file=sys.stderr,
            flush=True,
        )

    model = load_for_inference(args.model, checkpoint=args.checkpoint, device=args.device)
    data_args = dict(
        input_size=tuple(args.input_size) if args.input_size else None,
        mean=args.mean,
        std=args.std,
        crop_pct=args.crop_pct,
        interpolation=args.interpolation,
    )
    check_data_args(model, data_args)
    records = iter_predictions(
        model, args.images, topk=args.topk, batch_size=args.batch_size, on_error=report, **data_args
    )

    def lines():
        for record in records:
            if args.json != "-":
                print(
                    f"{record['image']}: "
                    + ", ".join(f"{t['label']} {t['probability']:.4f}" for t in record["topk"])
                )
            yield json.dumps(record) + "\n"

    if output is not None:
        write_lines_atomic(output, lines())
    else:
        for line in lines():
            if args.json == "-":
                sys.stdout.write(line)
    return 1 if skipped else 0


def add_train_parser(sub) -> None:
    """The ``train`` subcommand."""
    train = sub.add_parser(
        "train", help="two-stage training + evaluation (default: embedded digits-LT)"
    )
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)


def add_eval_parser(sub) -> None:
    """The ``eval`` subcommand."""
    evaluate = sub.add_parser("eval", help="reload a run folder and print its metrics")
    evaluate.add_argument("run_dir", type=types.folder)
    evaluate.add_argument(
        "--data-root",
        type=types.folder,
        help="dataset root, if it moved since training (its class names must be the run's)",
    )
    add_allow_other_data(evaluate)
    evaluate.add_argument(
        "--tta",
        default="none",
        choices=("none", "flip"),
        help="flip: also score the mean of the logits of each image and its mirror, and store "
        "those numbers beside the headline ones in results.json (default: none)",
    )
    evaluate.set_defaults(func=cmd_eval)


def add_calibrate_parser(sub) -> None:
    """The ``calibrate`` subcommand."""
    calibrate = sub.add_parser(
        "calibrate", help="temperature scaling + logit adjustment of a run's deployed model"
    )
    calibrate.add_argument("run_dir", type=types.folder)
    calibrate.add_argument(
        "--target-prior",
        nargs="+",
        default=["uniform"],
        type=types.text,
        metavar="PRIOR",
        help="uniform (default), train (no adjustment), FILE.json (list or {class: value}) or C numbers",
    )
    calibrate.add_argument(
        "--tau",
        type=types.number(minimum=0, maximum=100),
        default=1.0,
        help="scale of the prior adjustment, 0 to 100 (default 1; 0: none)",
    )
    calibrate.add_argument(
        "--data-root",
        type=types.folder,
        help="dataset root, if it moved since training (its class names must be the run's)",
    )
    add_allow_other_data(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)


def add_data_parser(sub) -> None:
    """The ``data`` subcommand and its ``describe`` and ``check`` subcommands."""
    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command")
    describe = data.add_parser("describe", help="print a dataset's long-tail profile")
    describe.add_argument(
        "name",
        type=types.text,
        help="a registered dataset: digits_lt, cifar10_lt, cifar100_lt, fashion_mnist_lt, "
        "imagenet_lt, inat2018, places_lt, folder_lt",
    )
    describe.add_argument("--root", type=types.folder)
    describe.add_argument(
        "--imb",
        type=types.number(above=0),
        default=100.0,
        help="imbalance factor (100) or ratio (0.01)",
    )
    describe.add_argument("--profile", default="exp", choices=("exp", "step", "none"))
    describe.add_argument(
        "--plot", type=types.output_file, help="write a bar plot of the class counts to this PNG"
    )
    describe.add_argument(
        "--own-split",
        action="store_true",
        help="the split files are your own, not the official lists (imagenet_lt, inat2018, places_lt)",
    )
    describe.set_defaults(func=cmd_data_describe)
    check = data.add_parser(
        "check", help="are a benchmark's split files the official ones? (exit 0 yes, 2 no)"
    )
    check.add_argument("name", type=types.text, help="imagenet_lt, inat2018 or places_lt")
    check.add_argument(
        "--root",
        type=types.folder,
        required=True,
        help="the dataset root (the image root the lists start from)",
    )
    check.add_argument(
        "--split-dir",
        type=types.folder,
        help="the folder holding the split files (default: --root)",
    )
    check.set_defaults(func=cmd_data_check)


def add_models_parser(sub) -> None:
    """The ``models`` subcommand."""
    models = sub.add_parser("models", help="list registered models")
    models.add_argument("pattern", nargs="?", default="*")
    models.add_argument(
        "--pretrained", action="store_true", help="only tags with published weights"
    )
    models.add_argument("--markdown", action="store_true", help="print the README's model table")
    models.set_defaults(func=cmd_models)


def add_push_parser(sub) -> None:
    """The ``push`` subcommand."""
    push = sub.add_parser(
        "push", help="publish a run folder to the Hugging Face Hub (timm format, safetensors)"
    )
    push.add_argument("run_dir", type=types.folder)
    push.add_argument(
        "--repo-id",
        type=types.text,
        required=True,
        help="Hub repository, org/name (created when missing)",
    )
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument(
        "--revision",
        type=types.text,
        help="branch to push to (created when missing; default: main)",
    )
    push.add_argument("--commit-message", type=types.text)
    push.add_argument(
        "--save-dir",
        type=types.output_folder,
        help="only write the repository folder here; upload nothing",
    )
    push.set_defaults(func=cmd_push)


def add_predict_parser(sub) -> None:
    """The ``predict`` subcommand."""
    predict = sub.add_parser(
        "predict",
        help="top-k classes with calibrated probabilities for image files",
        description="Exit status 1 when a file could not be read (it is named on stderr and skipped).",
    )
    predict.add_argument(
        "model",
        type=types.text,
        help="run folder, local-dir:DIR, hf-hub:org/name, or a registered name with --checkpoint",
    )
    predict.add_argument(
        "images",
        nargs="+",
        type=types.text,
        metavar="IMAGE_OR_FOLDER",
        help="image files; folders are walked recursively",
    )
    predict.add_argument(
        "--checkpoint",
        type=types.file,
        metavar="PATH.safetensors",
        help="weights for a registered model name",
    )
    predict.add_argument(
        "--topk", type=types.integer(1), default=5, help="classes per image (default 5)"
    )
    predict.add_argument(
        "--json",
        type=types.output_file,
        metavar="FILE",
        help="write one JSON record per image (JSON lines) to FILE, or - for stdout",
    )
    predict.add_argument("--batch-size", type=types.integer(1), default=32)
    predict.add_argument("--device", type=types.text, help="cpu (default), cuda, cuda:1, ...")
    predict.add_argument(
        "--input-size",
        type=types.integer(1),
        nargs=3,
        metavar=("C", "H", "W"),
        help="override the model's data config",
    )
    predict.add_argument(
        "--mean",
        type=types.number(minimum=0, maximum=1),
        nargs="+",
        help="per-channel mean of the [0, 1] pixels (one value, or one per channel)",
    )
    predict.add_argument(
        "--std",
        type=types.number(above=0, maximum=1),
        nargs="+",
        help="per-channel standard deviation, in (0, 1] (one value, or one per channel)",
    )
    predict.add_argument(
        "--crop-pct", type=types.number(above=0, maximum=1), help="centre crop fraction, (0, 1]"
    )
    predict.add_argument("--interpolation", type=types.text)
    predict.set_defaults(func=cmd_predict)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose refusals are one line (exit status 2), naming the argument and
    pointing at ``--help`` instead of printing the usage block; its subcommands' parsers are too."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ltzoo", description="Long-tailed recognition model zoo")
    parser.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        default=0,
        help="print results and warnings only, no settings or progress lines",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=1,
        help="print debug lines too",
    )
    sub = parser.add_subparsers(dest="command")
    add_train_parser(sub)
    add_eval_parser(sub)
    add_calibrate_parser(sub)
    add_data_parser(sub)
    add_models_parser(sub)
    add_push_parser(sub)
    add_predict_parser(sub)

    from ltzoo.release_cli import add_release_parser
    from ltzoo.reporting.cli import add_report_parser
    from ltzoo.tuning.cli import add_tune_parser

    add_tune_parser(sub)
    add_report_parser(sub)
    add_release_parser(sub)
    return parser


def configure_logging(verbosity: int) -> None:
    """ltzoo's log lines (settings, epochs, result tables) on standard output: INFO by default,
    WARNING with ``--quiet``, DEBUG with ``--verbose``. Library use configures nothing."""
    import logging

    logger = logging.getLogger("ltzoo")
    for handler in [h for h in logger.handlers if getattr(h, "ltzoo_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.ltzoo_cli = True
    logger.addHandler(handler)
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a refused argument (2) or --help (0): a status, as every refusal
        return stop.code if isinstance(stop.code, int) else 2
    configure_logging(args.verbosity)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ltzoo.errors import InputError, storage_error

    try:
        return args.func(args)
    except (
        InputError,
        FileNotFoundError,
    ) as error:  # the user's input: one line; anything else is a bug
        print(f"ltzoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk or a read-only folder is the machine's state, not a bug
        converted = storage_error(error)
        if converted is None:
            raise
        print(f"ltzoo {args.command}: error: {converted}", file=sys.stderr)
        return 2
    finally:
        # the run-folder locks the command took (the module is loaded only if it took some)
        run_folder = sys.modules.get("ltzoo.run_folder")
        if run_folder is not None:
            run_folder.release_all()
        release_process_group()


def release_process_group() -> None:
    """Destroy the process group ``accelerate launch`` opened, once the command is done.

    A Gloo group left to the interpreter's exit can abort the process (SIGABRT, "terminate called
    without an active exception") after the work is saved, and the launcher then reports failure;
    PyTorch's distributed docs ask each process to call ``destroy_process_group()`` at the end.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
