"""Every stage-2 method and every stage-1 loss on the embedded digits-LT data, in one table.

    python benchmarks/digits_methods.py [--epochs 60] [--seed 0] [--threads N]

Stage 1 (ResNet-32, cross-entropy, the embedded recipe: 60 epochs, IF 20) is trained once; every
stage-2 method then runs on its frozen encoder (cached features; ``crt (LB+C)`` / ``crt (B+C)``
re-train the last stage / the whole encoder on images, Kang et al. ICLR'20 Table 1). Then stage 1
is trained again once per stage-1 loss (same recipe, the loss and its sampler swapped). Rows:
All / Many / Medium / Few accuracy, the standard deviation of per-class accuracy and the ECE, on
the balanced test split (30 images per class), then the machine it ran on. Numbers from one seed
on 300 test images: differences of a point or two are noise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import describe_machine  # noqa: E402  (benchmarks/machine.py)

from ltzoo.train.config import load_config  # noqa: E402

# (row, stage-2 method, its options, stage2 fields that differ from the embedded recipe)
STAGE2_ROWS = [
    ("crt", "crt", {}, {}),
    ("crt (LB+C)", "crt", {}, {"retrain": "last_block"}),
    ("crt (B+C)", "crt", {}, {"retrain": "all"}),
    ("lws", "lws", {}, {}),
    ("tau", "tau", {}, {}),
    ("ncm", "ncm", {}, {}),
    ("iwb", "iwb", {"base": "ce"}, {}),
    ("iwb_cb", "iwb", {"base": "class_balanced"}, {}),
    ("wd_maxnorm", "wd_maxnorm", {"base": "ce", "weight_decay": 0.1, "lr": 0.01}, {}),
    (
        "wd_maxnorm_cb",
        "wd_maxnorm",
        {"base": "class_balanced", "weight_decay": 0.1, "lr": 0.01},
        {},
    ),
    ("experts (concat)", "experts", {"combine": "concat"}, {}),
    ("experts (l1)", "experts", {"combine": "l1"}, {}),
]
# (row, stage-1 overrides)
STAGE1_ROWS = [
    ("ce+cb_sampler", ["stage1.sampler=class_balanced"]),
    ("class_balanced", ["stage1.loss=class_balanced"]),
    ("focal", ["stage1.loss=focal"]),
    (
        "ldam_drw",
        [
            "stage1.loss=ldam",
            "model.name=lt_classifier",
            "model.backbone=resnet32",
            "model.kwargs={head: cosine, head_kwargs: {scale: 1.0}}",
            "stage1.loss_kwargs={drw_epoch: 48}",
        ],
    ),
    ("logit_adjusted", ["stage1.loss=logit_adjusted"]),
    ("balanced_softmax", ["stage1.loss=balanced_softmax"]),
    (
        "uniform_batch_rw",
        [
            "stage1.loss=reweighted_uniform",
            "stage1.sampler=uniform_batch",
            "stage1.batch_size=60",
            "stage1.sampler_kwargs={samples_per_class: 6}",
        ],
    ),
]


def stage2_table(cfg, rows):
    """Stage 1 once, then every stage-2 row on its encoder; returns {row: test metrics}."""
    from accelerate.utils import set_seed

    from ltzoo.train.assemble import build_datasets, build_model, input_config
    from ltzoo.train.features import extract_features
    from ltzoo.train.run import check_names, fit_method, make_accelerator
    from ltzoo.train.scoring import evaluate_heads
    from ltzoo.train.stage1 import train_stage1

    accelerator = make_accelerator(cfg)
    set_seed(cfg.seed)  # as ltzoo.train.run.run does
    splits = build_datasets(cfg)
    counts = splits["train"].class_counts
    model = build_model(
        cfg, splits["train"].num_classes, in_chans=input_config(splits["test"])["input_size"][0]
    )
    model = train_stage1(cfg, accelerator, model, splits["train"]).eval()
    features = {k: extract_features(model, splits[k]) for k in ("train_plain", "val", "test")}
    results = evaluate_heads({"stage1 (ce)": model.head}, features["test"], counts, cfg)
    for row, method, options, stage2_fields in rows:
        stage2 = cfg.stage2.model_copy(
            update={"methods": [method], "method_options": {method: dict(options)}, **stage2_fields}
        )
        row_cfg = cfg.model_copy(update={"stage2": stage2})
        resolved = check_names(row_cfg)[method]  # its effective settings, as a run resolves them
        head, encoder = fit_method(
            method, model, splits, features, counts, row_cfg, accelerator, resolved
        )
        test = (
            extract_features(encoder, splits["test"]) if encoder is not None else features["test"]
        )
        results[row] = evaluate_heads({row: head}, test, counts, cfg)[row]
    return results


def stage1_table(base_overrides, rows):
    from ltzoo.train.run import run

    results = {}
    for row, overrides in rows:
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            cfg = load_config(
                None, base_overrides + overrides + ["stage2.methods=[]", f"output_dir={out}"]
            )
            results[row] = run(cfg)["methods"]["stage1"]
    return results


def main(argv=None) -> int:
    from ltzoo.evaluation import format_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--epochs", type=int, default=60, help="stage-1 epochs (the embedded recipe: 60)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        base = ["progress=false", f"seed={args.seed}", f"stage1.epochs={args.epochs}"]
        cfg = load_config(None, base + [f"output_dir={out}"])
        with contextlib.redirect_stdout(io.StringIO()):
            rows = stage2_table(cfg, STAGE2_ROWS)
    stage1_seconds = time.perf_counter() - started
    rows.update(stage1_table(base, STAGE1_ROWS))
    print("digits-LT (IF 20, 10 classes, balanced test of 300 images), ResNet-32, seed", args.seed)
    print(format_table(rows))
    print(
        f"\nstage 1 CE + {len(STAGE2_ROWS)} stage-2 rows: {stage1_seconds:.0f} s; "
        f"{len(STAGE1_ROWS)} more stage-1 runs: {time.perf_counter() - started - stage1_seconds:.0f} s"
    )
    print(f"machine: {describe_machine('cpu')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
