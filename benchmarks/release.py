"""Put the reproduction runs of a block into the release store: one released model per method tag.

    python benchmarks/release.py cifar100_lt/if100/resnet32 --root cifar100_lt=PATH
    python benchmarks/release.py cifar100_lt/if100/resnet32 --dry-run     # which run gives which tag
    python benchmarks/release.py cifar100_lt/if100/resnet32/bs_aa_cutmix --root cifar100_lt=PATH

Each of the seven methods of the model table (``resnet32_<method>``) is released from the run of
the block that deploys it; where a method has two forms, the stronger one on the block's records is
the one the tag deploys (IWB with the class-balanced loss, WD+MaxNorm with the class-balanced
loss), and the card says which. The run folders are those ``benchmarks/reproduce.py`` wrote
(``runs/reproduce/<row id>``) and the records those of ``benchmarks/results/<row id>.json``, so the
store's weights, the records and the tables come from the same runs. The temperature of each model is
fitted on the run's balanced validation split (``ltzoo.train.release_models``). Then the store index
and the published-weights table are written, and ``ltzoo release list`` shows the result.

A recipe row of ``RECIPE_RELEASES`` (a row id rather than a block) is released under a tag of its
own, on the architecture of the method its run deployed (``ltzoo.models.zoo.RECIPE_TAGS``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from reproduction.plan import PLAN  # noqa: E402

from ltzoo.models.zoo import known_tags  # noqa: E402
from ltzoo.release import ReleaseStore  # noqa: E402
from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.train.release_models import add_run, released_architecture  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# tag method -> (the row that deploys it, what the card says it is)
RELEASED = {
    "ce": (
        "ce",
        "Cross-entropy with instance-balanced sampling: the block's stage-1 encoder and classifier.",
    ),
    "crt": ("crt", "Classifier re-training (cRT, Kang et al., ICLR'20) on the frozen CE encoder."),
    "lws": (
        "lws",
        "Learnable weight scaling (LWS, Kang et al., ICLR'20) on the frozen CE encoder.",
    ),
    "ncm": ("ncm", "Nearest class mean (NCM, Kang et al., ICLR'20) on the frozen CE encoder."),
    "tau": (
        "tau",
        "tau-normalised classifier (Kang et al., ICLR'20), tau chosen on the balanced validation split.",
    ),
    "wd_maxnorm": (
        "wd_maxnorm_cb",
        "WD+MaxNorm with the class-balanced loss (Alshammari et al., CVPR'22), the stronger of its two "
        "forms, on the frozen CE encoder.",
    ),
    "iwb": (
        "iwb_cb",
        "Inverse weight-balancing with the class-balanced loss (IWB+CB, Dang et al., AAAI'24), the "
        "stronger of its two forms, on the frozen CE encoder.",
    ),
}

# how a card names the method a recipe row deployed
DEPLOYED_TITLES = {
    "stage1": "the stage-1 classifier itself",
    "crt": "classifier re-training (cRT, Kang et al., ICLR'20) on the frozen encoder",
    "lws": "learnable weight scaling (LWS, Kang et al., ICLR'20) on the frozen encoder",
    "tau": "the tau-normalised classifier (Kang et al., ICLR'20)",
    "ncm": "the nearest class mean classifier (NCM, Kang et al., ICLR'20)",
    "iwb": "inverse weight-balancing (IWB, Dang et al., AAAI'24) with the class-balanced loss",
    "wd_maxnorm": "weight decay + MaxNorm (Alshammari et al., CVPR'22) with the class-balanced loss",
}
# recipe row -> (its tag, what the card says it is; {method} is the stage-2 method it deployed)
RECIPE_RELEASES = {
    "cifar100_lt/if100/resnet32/bs_aa_cutmix": (
        "bs_aa_cutmix_cifar100_lt_r100",
        "The strongest ResNet-32 recipe of ltzoo on CIFAR-100-LT (IF 100), "
        "recipes/cifar100_lt/balanced_softmax_cutmix.yaml: balanced softmax (Ren et al., NeurIPS'20) "
        "with AutoAugment, Cutout and CutMix for 200 epochs, then {method}, the method with the "
        "highest top-1 on the balanced validation split.",
    ),
    "cifar100_lt/if100/resnet32/bs_aa_cutmix_e220": (
        "bs_aa_cutmix_e220_cifar100_lt_r100",
        "The strongest ResNet-32 recipe of ltzoo on CIFAR-100-LT (IF 100) with a 220-epoch stage 1, "
        "recipes/cifar100_lt/balanced_softmax_cutmix.yaml with stage1.epochs=220: balanced softmax "
        "(Ren et al., NeurIPS'20) with AutoAugment, Cutout and CutMix, then {method}, the method with "
        "the highest top-1 on the balanced validation split.",
    ),
}


def _report(entry) -> None:
    scores = entry["calibration"]["scores"]
    print(
        f"  top-1 {entry['metrics']['top1']:.2f}  T {entry['calibration']['temperature']:.3f}  "
        f"ECE {scores['before']['ece']:.2f} -> {scores['after']['ece']:.2f}  "
        f"NLL {scores['before']['nll']:.3f} -> {scores['after']['nll']:.3f}"
    )


def _release_recipe(args, store, roots) -> None:
    """The deployed model of a recipe row, under its own tag."""
    import json

    tag, description = RECIPE_RELEASES[args.block]
    run_dir, record = Path(args.runs) / args.block, Path(args.results) / f"{args.block}.json"
    deployed = json.loads((run_dir / "results.json").read_text())["deploy"]
    arch = released_architecture(
        json.loads((run_dir / "config.json").read_text()), load_config(run_dir / "config.yaml")
    )
    print(f"{arch}.{tag} <- {run_dir} (deployed {deployed}; {record.relative_to(REPO)})")
    if tag not in known_tags(arch):
        raise SystemExit(
            f"{arch} has no pretrained tag {tag!r}: declare it in ltzoo.models.zoo.RECIPE_TAGS "
            f"({arch!r}: {{{tag!r}: <its dataset tag>}}) so that the released model loads by name"
        )
    if args.dry_run:
        return
    for moved in store.names(f"*.{tag}"):  # the recipe deployed another method than last time
        if moved != f"{arch}.{tag}":
            print(f"{moved}: withdrawn (files {', '.join(store.remove(moved)) or 'kept'})")
    entry = add_run(
        run_dir,
        store,
        tag=tag,
        record=record,
        description=description.format(method=DEPLOYED_TITLES.get(deployed, deployed)),
        data_root=roots.get(args.block.split("/")[0]),
    )
    entry["record"] = str(record.relative_to(REPO))
    _report(entry)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "block",
        help="dataset/if<IF>/backbone, e.g. cifar100_lt/if100/resnet32, or a row of RECIPE_RELEASES",
    )
    p.add_argument("--runs", default=str(REPO / "runs" / "reproduce"))
    p.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    p.add_argument("--root", action="append", default=[], metavar="DATASET=PATH")
    p.add_argument("--store", default=None)
    p.add_argument("--replace", action="store_true", help="replace the block's stored encoder")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--methods", nargs="+", choices=sorted(RELEASED), help="release only these (default: all)"
    )
    args = p.parse_args(argv)
    roots = dict(item.split("=", 1) for item in args.root)
    ids = {row.id for row in PLAN}
    store = ReleaseStore(args.store)
    if args.block in RECIPE_RELEASES:
        _release_recipe(args, store, roots)
        return _save(store, args.dry_run)
    dataset, factor, backbone = args.block.split("/")
    tag = f"{dataset}_r{factor[2:]}"
    for method, (row, description) in RELEASED.items():
        if args.methods and method not in args.methods:
            continue
        row_id = f"{args.block}/{row}"
        if row_id not in ids:
            raise SystemExit(f"{row_id} is not a row of the reproduction plan")
        run_dir, record = Path(args.runs) / row_id, Path(args.results) / f"{row_id}.json"
        print(f"{backbone}_{method}.{tag} <- {run_dir} ({record.relative_to(REPO)})")
        if args.dry_run:
            continue
        entry = add_run(
            run_dir,
            store,
            tag=tag,
            record=record,
            description=description,
            data_root=roots.get(dataset),
            replace=args.replace and method == "ce",
        )
        entry["record"] = str(record.relative_to(REPO))
        _report(entry)
    return _save(store, args.dry_run)


def _save(store, dry_run: bool) -> int:
    if not dry_run:
        store.save()
        store.write_published_table()
        print(f"store {store.root}: {len(store.names())} models, {store.size() / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
