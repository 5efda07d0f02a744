"""``ltzoo release add|build|push|list``: the release store from the command line (:mod:`ltzoo.release`)."""

from __future__ import annotations

import argparse

from ltzoo import cli_types as types
from ltzoo.errors import InputError


def cmd_release_add(args: argparse.Namespace) -> int:
    from ltzoo.release import ReleaseStore
    from ltzoo.train.release_models import add_run

    types.check_not_an_input("--store", args.store, args.run_dirs)
    store = ReleaseStore(args.store)
    for run_dir in args.run_dirs:
        entry = add_run(
            run_dir,
            store,
            tag=args.tag,
            record=args.record,
            description=args.description,
            data_root=args.data_root,
            target_prior=args.target_prior,
            replace=args.replace,
        )
        scores = entry["calibration"]["scores"]
        print(
            f"added {entry['config']['architecture']}.{args.tag or '<tag>'}: top-1 {entry['metrics']['top1']:.2f}, "
            f"T {entry['calibration']['temperature']:.3f}, test ECE {scores['before']['ece']:.2f} -> "
            f"{scores['after']['ece']:.2f}"
        )
    store.save()
    if args.update_table:
        print(f"published-weights table: {store.write_published_table()}")
    return 0


def cmd_release_build(args: argparse.Namespace) -> int:
    from ltzoo.release import ReleaseStore, build

    folders = build(args.out_dir, ReleaseStore(args.store), pattern=args.pattern, org=args.org)
    for folder in folders:
        print(f"built {folder}")
    return 0


def cmd_release_push(args: argparse.Namespace) -> int:
    from ltzoo.release import push

    outcome = push(args.out_dir, args.org, pattern=args.pattern, private=args.private)
    print(
        f"{len(outcome['landed'])} landed, {len(outcome['unchanged'])} unchanged, "
        f"{len(outcome['failed'])} failed"
    )
    return 1 if outcome["failed"] else 0


def cmd_release_list(args: argparse.Namespace) -> int:
    from ltzoo.release import ReleaseStore, list_rows

    rows = list_rows(ReleaseStore(args.store))
    print(f"{'model':<40} {'top-1':>6} {'ECE':>6} {'MB':>6}  sha256")
    for r in rows:
        print(f"{r['name']:<40} {r['top1']:6.2f} {r['ece']:6.2f} {r['mb']:6.2f}  {r['sha256']}")
    print(f"{len(rows)} released models")
    return 0


def _org(value: str) -> str:
    if not value or "/" in value or value.strip() != value:
        raise argparse.ArgumentTypeError(f"--org {value!r} is not a Hub organisation name")
    return value


def add_release_parser(sub) -> None:
    release = sub.add_parser("release", help="the release store: add runs, build, push, list")
    commands = release.add_subparsers(dest="release_command")
    store_help = "the release store folder (default: weights/ of the source checkout)"

    add = commands.add_parser("add", help="calibrate runs' deployed models and store them")
    add.add_argument("run_dirs", nargs="+", type=types.folder, metavar="RUN_DIR")
    add.add_argument(
        "--tag",
        type=types.text,
        help="pretrained tag, e.g. cifar100_lt_r100 (default: from the run's data)",
    )
    add.add_argument(
        "--record", type=types.file, help="the run's benchmark record (benchmarks/results/...json)"
    )
    add.add_argument("--description", type=types.text, help="one sentence for the model card")
    add.add_argument(
        "--data-root", type=types.folder, help="where the run's dataset is on this machine"
    )
    add.add_argument(
        "--target-prior", choices=["uniform"], help="also shift the logits to this prior"
    )
    add.add_argument(
        "--replace", action="store_true", help="replace a stored encoder of the same tag"
    )
    add.add_argument(
        "--update-table", action="store_true", help="rewrite ltzoo/models/published_weights.json"
    )
    add.add_argument("--store", type=types.output_folder, help=store_help)
    add.set_defaults(func=cmd_release_add)

    build = commands.add_parser("build", help="write one Hub-ready folder per released model")
    build.add_argument("out_dir", type=types.output_folder, metavar="OUT")
    build.add_argument(
        "--pattern", type=types.text, default="*", help="released models to build (a glob)"
    )
    build.add_argument("--org", type=_org, help="Hub organisation the cards name")
    build.add_argument("--store", type=types.folder, help=store_help)
    build.set_defaults(func=cmd_release_build)

    push = commands.add_parser("push", help="upload built folders to <org>/<arch>.<tag>")
    push.add_argument("out_dir", type=types.folder, metavar="OUT")
    push.add_argument("--org", type=_org, required=True)
    push.add_argument(
        "--pattern", type=types.text, default="*", help="built folders to push (a glob)"
    )
    push.add_argument("--private", action="store_true")
    push.set_defaults(func=cmd_release_push)

    listing = commands.add_parser("list", help="every released model: top-1, ECE, size, SHA-256")
    listing.add_argument("--store", type=types.folder, help=store_help)
    listing.set_defaults(func=cmd_release_list)
    release.set_defaults(func=lambda args: _needs_command(release))


def _needs_command(parser) -> int:
    raise InputError(f"{parser.prog} needs a command: add, build, push or list")


__all__ = ["add_release_parser"]
