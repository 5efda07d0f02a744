"""``describe``: the class-count profile of a long-tailed training set, as data, text or a plot.

Backs ``ltzoo data describe cifar100_lt --root data/cifar100 --imb 100``. Groups are
Many (> 100 training images), Medium (20..100), Few (< 20) (Liu et al. CVPR'19) and the
head/tail halves by training count.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ltzoo.atomic import save_figure_atomic
from ltzoo.data.longtail import class_groups


def describe(
    name: str,
    root=None,
    imbalance=100,
    profile: str = "exp",
    seed: int = 0,
    val_fraction: float = 0.0,
    many: int = 100,
    few: int = 20,
    **kwargs,
) -> Dict[str, Any]:
    """Counts per class of the training split of ``name`` and its Many/Medium/Few sizes.

    Returns a JSON-serialisable dict: ``name``, ``imbalance``, ``profile``, ``seed``,
    ``val_fraction``, ``num_classes``, ``classes``, ``counts`` (per class, in class order),
    ``total``, ``max``, ``min``, ``ratio`` (max / min), ``thresholds``, ``groups`` (group ->
    number of classes) and ``group_images`` (group -> number of training images).
    """
    from ltzoo.data import create_dataset

    ds = create_dataset(
        name,
        split="train",
        root=root,
        imbalance=imbalance,
        profile=profile,
        seed=seed,
        val_fraction=val_fraction,
        **kwargs,
    )
    counts = np.asarray(ds.class_counts, dtype=np.int64)
    groups = class_groups(counts, many=many, few=few)
    return {
        "name": name,
        "imbalance": imbalance,
        "profile": profile,
        "seed": seed,
        "val_fraction": val_fraction,
        "num_classes": int(len(counts)),
        "classes": list(ds.classes),
        "counts": counts.tolist(),
        "total": int(counts.sum()),
        "max": int(counts.max()),
        "min": int(counts.min()),
        "ratio": float(counts.max() / max(int(counts.min()), 1)),
        "thresholds": {"many": many, "few": few},
        "groups": {g: int(len(idx)) for g, idx in groups.items()},
        "group_images": {g: int(counts[idx].sum()) for g, idx in groups.items()},
    }


def format_description(d: Dict[str, Any], show: int = 5) -> str:
    """A short report: totals, groups, and the ``show`` largest / smallest classes."""
    t = d["thresholds"]
    lines = [
        f"{d['name']}: {d['total']:,} training images in {d['num_classes']} classes "
        f"(profile={d['profile']}, imbalance={d['imbalance']}, seed={d['seed']}, val_fraction={d['val_fraction']})",
        f"  largest class {d['max']:,}, smallest {d['min']:,}, ratio {d['ratio']:.1f}",
    ]
    labels = {
        "many": f"Many (>{t['many']})",
        "medium": f"Medium ({t['few']}-{t['many']})",
        "few": f"Few (<{t['few']})",
        "head": "Head half",
        "tail": "Tail half",
    }
    for g, label in labels.items():
        lines.append(
            f"  {label:<18} {d['groups'][g]:>6} classes {d['group_images'][g]:>10,} images"
        )
    order = sorted(range(d["num_classes"]), key=lambda c: -d["counts"][c])
    pick = order if len(order) <= 2 * show else order[:show] + [None] + order[-show:]
    lines.append("  class counts (descending):")
    for c in pick:
        lines.append(
            "    ..." if c is None else f"    {c:>5} {d['classes'][c]:<24.24} {d['counts'][c]:>8,}"
        )
    return "\n".join(lines)


def plot_counts(d: Dict[str, Any], path) -> str:
    """Bar chart of the sorted class counts on a log y axis, saved to ``path`` (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plot_counts needs matplotlib: pip install 'ltzoo[report]'") from err
    counts = np.sort(np.asarray(d["counts"]))[::-1]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("class rank (sorted by training images)")
    ax.set_ylabel("training images (log)")
    ax.set_title(
        f"{d['name']}: {d['total']:,} images, {d['num_classes']} classes, ratio {d['ratio']:.0f}"
    )
    fig.tight_layout()
    save_figure_atomic(fig, path)
    plt.close(fig)
    return str(path)
