"""Does the device-resident fast path (data.loader=device) train as well as the DataLoader path?

Trains the embedded digits-LT recipe with both loaders for several seeds and prints stage-1 and
LWS test top-1 per run and the means. Usage:

  python benchmarks/device_vs_dataloader.py --seeds 0 1 2 [--set data.dataset=cifar100_lt ...]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine  # benchmarks/machine.py


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = {"torch": [], "device": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for loader in rows:
                out = Path(tmp) / f"{loader}{seed}"
                cmd = [
                    sys.executable,
                    "-m",
                    "ltzoo.cli",
                    "train",
                    "--output-dir",
                    str(out),
                    "--set",
                    "progress=false",
                    "--set",
                    f"seed={seed}",
                    "--set",
                    f"data.loader={loader}",
                    "--set",
                    "stage2.methods=[lws]",
                    *sum((["--set", o] for o in args.overrides), []),
                ]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                methods = json.loads((out / "results.json").read_text())["methods"]
                rows[loader].append((methods["stage1"]["top1"], methods["lws"]["top1"]))
                print(
                    f"seed {seed}  loader {loader:6s}  stage1 {rows[loader][-1][0]:6.2f}  "
                    f"lws {rows[loader][-1][1]:6.2f}",
                    flush=True,
                )
    for loader, values in rows.items():
        means = [sum(v[i] for v in values) / len(values) for i in (0, 1)]
        print(
            f"mean over seeds {args.seeds}: {loader:6s} stage1 {means[0]:6.2f}  lws {means[1]:6.2f}"
        )
    print(f"machine: {describe_machine()}")


if __name__ == "__main__":
    main()
