"""Stage-1 speed and accuracy of ltzoo's training engine on the CPU: fp32 vs bf16 autocast, each
with and without channels-last, through ``ltzoo.train.run`` itself (loader, loss, checkpoints,
epoch log), not a hand-written loop. Prints, per setting, img/s over the epochs after the first
(warm-up excluded), the wall time, and the stage-1 test accuracy (All / Many / Medium / Few).

  python benchmarks/engine_precision.py --config recipes/cifar100_lt/ce.yaml --epochs 3
  python benchmarks/engine_precision.py --epochs 30            # the embedded digits-LT recipe

bf16 autocast needs a CPU with native bf16 (AVX512-BF16 or AMX: ``lscpu | grep -o 'avx512_bf16\\|amx'``);
without one it runs, slower than fp32. ``benchmarks/throughput.py`` measures the training step
alone (no engine) for comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from machine import describe_machine  # benchmarks/machine.py

from ltzoo.train.config import load_config
from ltzoo.train.run import run

SETTINGS = {
    "fp32": ["mixed_precision=no", "engine.channels_last=false"],
    "fp32 channels-last": ["mixed_precision=no", "engine.channels_last=true"],
    "bf16": ["mixed_precision=bf16", "engine.channels_last=false"],
    "bf16 channels-last": ["mixed_precision=bf16", "engine.channels_last=true"],
}


def measure(config, overrides, epochs, out):
    stamps = []
    cfg = load_config(
        config,
        [
            "progress=false",
            f"output_dir={out}",
            f"stage1.epochs={epochs}",
            "stage2.methods=[]",
            *overrides,
        ],
    )
    start = time.perf_counter()
    results = run(
        cfg,
        on_epoch_end=lambda epoch, stats, model: stamps.append(
            (time.perf_counter(), stats["images"])
        ),
    )
    wall = time.perf_counter() - start
    timed = stamps[1:] if len(stamps) > 1 else stamps
    first = stamps[0][0] if len(stamps) > 1 else start
    images = sum(n for _, n in timed)
    return images / (timed[-1][0] - first), wall, results["methods"]["stage1"]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", default=None, help="recipe (default: the embedded digits-LT one)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    print(
        f"machine: {describe_machine('cpu')}; recipe {args.config or 'digits_lt (default)'} "
        f"{' '.join(args.overrides)}; {args.epochs} epochs",
        flush=True,
    )
    print(f"{'setting':20s} {'img/s':>7s} {'wall s':>7s}   All   Many  Medium   Few")
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.settings):
            speed, wall, top1 = measure(
                args.config,
                ["device=cpu", *args.overrides, *SETTINGS[name]],
                args.epochs,
                Path(tmp) / str(i),
            )
            print(
                f"{name:20s} {speed:7.0f} {wall:7.1f} {top1['top1']:6.2f} {top1['many']:6.2f} "
                f"{top1['medium']:6.2f} {top1['few']:6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
