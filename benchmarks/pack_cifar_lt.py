"""Pack CIFAR for a machine that can only receive a few tens of MiB (a GPU machine without a copy of the data).

    python benchmarks/pack_cifar_lt.py --root data/cifar100 --out data/packed/cifar100 --imbalance 100 50
    python benchmarks/pack_cifar_lt.py --dataset cifar10_lt --root data/cifar10 --out data/packed/cifar10 \
        --imbalance 10 50 100 500 --profile exp step

CIFAR-100's ``train.npz`` is 139 MB, but a long-tailed run reads only its subset: 10,847 images
at IF 100, 12,608 at IF 50. The packed ``train.npz`` keeps the full array shape, every label and
the class names, and zeroes the images that no requested (imbalance, seed, profile) subset keeps, then is
saved compressed; ``test.npz`` is saved compressed as is. Because ``longtail_indices`` depends
only on the labels, the seed and the class counts, the packed root gives exactly the same
training, validation and test sets as the original for the requested imbalance factors (any
``val_fraction``: validation is carved from the kept subset); the script checks this before it
returns, and prints the sizes. Other imbalance factors or seeds would read zeroed images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltzoo.data import create_dataset  # noqa: E402
from ltzoo.data.base import split_indices  # noqa: E402
from ltzoo.data.cifar import load_cifar  # noqa: E402


def pack(
    root, out, dataset: str = "cifar100_lt", imbalances=(100, 50), seeds=(0,), profiles=("exp",)
) -> dict:
    """Write the packed ``train.npz`` / ``test.npz`` to ``out``; returns what was kept and the sizes."""
    num_classes = 100 if dataset == "cifar100_lt" else 10
    train_x, train_y, test_x, test_y, classes = load_cifar(dataset, root, num_classes)
    keep = np.zeros(len(train_y), dtype=bool)
    for imbalance, seed, profile in _subsets(imbalances, seeds, profiles):
        idx, _, _ = split_indices(
            train_y,
            classes,
            "train",
            imbalance=imbalance,
            profile=profile,
            seed=seed,
            val_fraction=0.0,
            where=dataset,
        )
        keep[idx] = True
    packed = np.where(keep[:, None, None, None], train_x, 0).astype(np.uint8)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "train.npz", x=packed, y=np.asarray(train_y), classes=np.asarray(classes)
    )
    np.savez_compressed(
        out / "test.npz",
        x=np.asarray(test_x, dtype=np.uint8),
        y=np.asarray(test_y),
        classes=np.asarray(classes),
    )
    check_same_subsets(root, out, dataset, imbalances, seeds, profiles)
    sizes = {name: (out / name).stat().st_size for name in ("train.npz", "test.npz")}
    return {"kept_images": int(keep.sum()), "bytes": sizes}


def _subsets(imbalances, seeds, profiles):
    profiles = [profiles] if isinstance(profiles, str) else list(profiles)
    return [(i, s, p) for i in imbalances for s in seeds for p in profiles]


def check_same_subsets(root, packed_root, dataset, imbalances, seeds, profiles) -> None:
    """Every requested subset (train, its 20% validation carve, test) reads identical arrays."""
    for imbalance, seed, profile in _subsets(imbalances, seeds, profiles):
        for split, val_fraction in (
            ("train", 0.0),
            ("train", 0.2),
            ("val", 0.2),
            ("test", 0.0),
        ):
            common = dict(
                split=split,
                imbalance=imbalance,
                profile=profile,
                seed=seed,
                val_fraction=val_fraction,
            )
            a = create_dataset(dataset, root=root, **common)
            b = create_dataset(dataset, root=packed_root, **common)
            if not (np.array_equal(a.data, b.data) and np.array_equal(a.targets, b.targets)):
                raise AssertionError(
                    f"packed {split} (imbalance {imbalance}, seed {seed}, profile {profile}, "
                    f"val_fraction {val_fraction}) differs from the original"
                )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", default="data/cifar100")
    parser.add_argument("--out", default="data/packed/cifar100")
    parser.add_argument("--dataset", default="cifar100_lt", choices=["cifar100_lt", "cifar10_lt"])
    parser.add_argument("--imbalance", type=float, nargs="+", default=[100, 50])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--profile", nargs="+", default=["exp"], choices=["exp", "step"])
    args = parser.parse_args(argv)
    report = pack(args.root, args.out, args.dataset, args.imbalance, args.seeds, args.profile)
    mib = {name: size / 2**20 for name, size in report["bytes"].items()}
    print(
        f"{args.out}: train.npz {mib['train.npz']:.1f} MiB ({report['kept_images']} images kept), test.npz "
        f"{mib['test.npz']:.1f} MiB, {sum(mib.values()):.1f} MiB in all; subsets for imbalance "
        f"{', '.join(f'{i:g}' for i in args.imbalance)}, seeds {args.seeds}, profiles {args.profile} "
        f"checked identical to {args.root}"
    )


if __name__ == "__main__":
    main()
