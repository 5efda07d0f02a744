"""Time to result: wall time of a whole two-stage recipe (stage 1 + stage 2 + evaluation),
printed with the accuracy it reached and the device. The target: the CIFAR-100-LT IF 100
IWB recipe (200 + 10 epochs) in under 2 minutes on one H100.

  python benchmarks/time_to_result.py --config recipes/cifar100_lt/iwb.yaml \\
      --set data.loader=device --set mixed_precision=bf16 --set engine.channels_last=true \\
      --set engine.fused_optimizer=true
"""

import argparse
import time

from machine import describe_machine  # benchmarks/machine.py

from ltzoo.evaluation import format_table
from ltzoo.train.config import load_config
from ltzoo.train.run import run


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="recipes/cifar100_lt/iwb.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.config, ["progress=false", *args.overrides])
    start = time.perf_counter()
    results = run(cfg)
    wall = time.perf_counter() - start
    device = describe_machine(cfg.device)
    print(format_table(results["methods"]))
    print(
        f"time to result: {wall:.1f} s wall (stage 1 {results['seconds']['stage1']:.1f} s, "
        f"{cfg.stage1.epochs} epochs) on {device}; recipe {args.config} {' '.join(args.overrides)}"
    )


if __name__ == "__main__":
    main()
