"""The model card (``README.md``) of a published ltzoo model, and its per-class accuracy plot.

The card is a ``huggingface_hub.ModelCard``: YAML metadata (``library_name: timm``, tags
``long-tailed`` and the dataset, a ``model-index`` with top-1 All / Many / Medium / Few of the
deployed method) followed by what a user needs: how to load it, the results of every method of
the run, the training data (which images a long-tail profile kept: the subset rule; the split
files and whether they are the official ones), the stage-2 state it carries, the training class
counts and, when there is one, the per-class accuracy plot. It is built from the repository's own
files only (``config.json``, the
weights, ``results.json``), so it never holds anything else of the machine that pushed it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from ltzoo.atomic import save_figure_atomic
from ltzoo.run_folder import CHECKPOINTS

PLOT_NAME = "per_class_accuracy.png"
GROUPS = (("top1", "All"), ("many", "Many"), ("medium", "Medium"), ("few", "Few"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def find_plot(run_dir: Optional[Path]) -> Optional[Path]:
    """A per-class accuracy PNG of the run, or ``None``: ``*per_class*.png`` or ``ltzoo report``'s
    ``accuracy_vs_count.png``, in the run folder or in ``RUN-report/`` (report's default output)."""
    if run_dir is None:
        return None
    run_dir = Path(run_dir)
    folders = [run_dir, run_dir.parent / f"{run_dir.name}-report"]
    pngs = [
        p
        for f in folders
        if f.is_dir()
        for p in sorted(f.rglob("*.png"))
        if CHECKPOINTS not in p.parts
    ]
    for wanted in (
        lambda n: "per_class" in n or "per-class" in n,
        lambda n: n == "accuracy_vs_count.png",
    ):
        found = [p for p in pngs if wanted(p.name)]
        if found:
            return found[0]
    return None


def make_plot(results: Dict[str, Any], path: Path) -> Optional[Path]:
    """Bar plot of the deployed method's per-class test accuracy (classes sorted by training
    images); ``None`` when matplotlib is missing or the results have no per-class accuracy."""
    metrics = results.get("methods", {}).get(results.get("deploy"), {})
    accuracy, counts = metrics.get("per_class_accuracy"), results.get("class_counts")
    if not accuracy or not counts or len(accuracy) != len(counts):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    order = sorted(range(len(counts)), key=lambda c: -counts[c])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(
        range(len(order)),
        [accuracy[c] for c in order],
        width=0.9 if len(order) <= 50 else 1.0,
        color="tab:blue",
    )
    ax.set_xlabel("class rank (most to fewest training images)")
    ax.set_ylabel("test top-1 accuracy (%)")
    ax.set_title(f"{results.get('dataset', '')} — {results.get('deploy')}: per-class accuracy")
    fig.tight_layout()
    save_figure_atomic(fig, path, metadata={"Software": None})  # no local details in the PNG
    plt.close(fig)
    return path


def eval_results(results: Optional[Dict[str, Any]], dataset: str) -> List[Any]:
    """The ``model-index`` entries: top-1 All / Many / Medium / Few of the deployed method."""
    from huggingface_hub import EvalResult

    metrics = (results or {}).get("methods", {}).get((results or {}).get("deploy"), {})
    return [
        EvalResult(
            task_type="image-classification",
            task_name="Long-tailed image classification",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type="accuracy",
            metric_name=f"Top-1 {label}",
            metric_value=round(float(metrics[key]), 2),
        )
        for key, label in GROUPS
        if _is_number(metrics.get(key))
    ]


def _results_table(results: Dict[str, Any]) -> List[str]:
    lines = ["| Method | All | Many | Medium | Few |", "|---|---|---|---|---|"]
    for name, metrics in results.get("methods", {}).items():
        cells = [f"{metrics[k]:.2f}" if _is_number(metrics.get(k)) else "-" for k, _ in GROUPS]
        chosen = ", the best top-1 on validation" if results.get("deploy_choice") else ""
        marker = f" (deployed{chosen})" if name == results.get("deploy") else ""
        lines.append(f"| {name}{marker} | " + " | ".join(cells) + " |")
    return lines


def _stage2_state(state: Dict[str, torch.Tensor]) -> List[str]:
    lines = []
    for key, tensor in state.items():
        if key.startswith(("head.", "calibration.")) and key not in (
            "head.fc.weight",
            "head.fc.bias",
        ):
            value = (
                f"{tensor.item():.4g}" if tensor.numel() == 1 else f"shape {tuple(tensor.shape)}"
            )
            if key == "calibration.bias":
                value += ", " + (
                    "non-zero: predictions shifted to the target prior" if tensor.any() else "zero"
                )
            lines.append(f"- `{key}`: {value}")
    return lines


def _calibration(extra: Dict[str, Any]) -> List[str]:
    """What the card says about the deployed probabilities: calibrated (how, on which split, ECE and
    NLL before/after), or plainly not."""
    c = extra.get("calibration")
    if not c:
        return [
            "This model is **not calibrated**: its probabilities are the raw softmax of the deployed head. "
            "Fit a temperature (and a prior shift) on a validation split with `ltzoo calibrate RUN_DIR` "
            "before relying on them.",
            "",
        ]
    prior = c.get("target_prior", "uniform")
    prior = prior if isinstance(prior, str) else "given per class"
    lines = [
        f"The deployed logits are `z / T + b`: temperature T = {c['temperature']:.4f} fitted on the "
        f"{c.get('fitted_on', 'validation split')}, then a logit adjustment to the `{prior}` class prior "
        f"(strength {c.get('tau', 0):g}).",
        "",
    ]
    scores = c.get("scores")
    if scores:
        lines += [f"| {scores.get('split', 'test')} split | ECE % | NLL |", "|---|---|---|"]
        for name in ("before", "after"):
            row = scores.get(name, {})
            if _is_number(row.get("ece")) and _is_number(row.get("nll")):
                lines.append(f"| {name} calibration | {row['ece']:.2f} | {row['nll']:.4f} |")
        lines.append("")
    return lines


def _data_section(data: Optional[Dict[str, Any]]) -> List[str]:
    """Which training images the run used: the subset rule and, for list benchmarks, the split files."""
    if not data:
        return []
    rule = data.get("subset_rule") or {}
    lines = [
        "## Training data",
        "",
        f"- dataset: `{data.get('dataset')}`",
        f"- subset rule: `{rule.get('name')}`: {rule.get('description')}",
    ]
    if "official_split" in data:
        lines.append(
            "- split files: "
            + (
                "the benchmark's official lists (checked)"
                if data["official_split"]
                else "the user's own, not the official lists"
            )
        )
        lines += [
            f"  - `{f['file']}`: {f['images']:,} images, {f['classes']:,} classes, sha256 `{f['sha256']}`"
            for f in data.get("split_files", [])
        ]
    return lines + [""]


def build_model_card(
    config: Dict[str, Any],
    state: Dict[str, torch.Tensor],
    repo_id: str,
    results: Optional[Dict[str, Any]] = None,
    plot: Optional[str] = None,
    files: Optional[List[str]] = None,
):
    """The ``ModelCard`` for a repository holding ``config`` (timm's ``config.json``) and weights
    ``state``; ``results`` is the run's ``results.json``, ``plot`` the PNG's name in the repository."""
    from huggingface_hub import ModelCard, ModelCardData

    extra = config.get("ltzoo", {})
    dataset = str((results or {}).get("dataset") or extra.get("dataset") or "unknown")
    arch, args = config["architecture"], config.get("model_args", {})
    data = ModelCardData(
        library_name="timm",
        license=config.get("pretrained_cfg", {}).get("license", "apache-2.0"),
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "ltzoo", "long-tailed", dataset],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results(results, dataset) or None,
    )
    cfg = config.get("pretrained_cfg", {})
    body = [
        f"# {repo_id}",
        "",
        f"A long-tailed image classifier from ltzoo: `{arch}` "
        f"(backbone `{args.get('backbone')}`, head `{args.get('head')}`), {config['num_classes']} classes of "
        f"`{dataset}`, input {tuple(cfg.get('input_size', ()))}, mean {tuple(cfg.get('mean', ()))}, "
        f"std {tuple(cfg.get('std', ()))}. Weights are safetensors only.",
        "",
        "## How to load",
        "",
        "```python",
        "import ltzoo, timm, torch",
        f'model = ltzoo.create_model("hf-hub:{repo_id}", pretrained=True).eval()',
        f'model = timm.create_model("hf-hub:{repo_id}", pretrained=True)  # after `import ltzoo`',
        "```",
        "",
    ]
    if results:
        body += [
            f"## Results (test top-1 %, deployed method: `{results.get('deploy')}`)",
            "",
            *_results_table(results),
            "",
            "Many / Medium / Few: classes with > 100 / 20-100 / < 20 training images.",
            "",
        ]
    if plot:
        body += ["## Per-class accuracy", "", f"![per-class accuracy]({plot})", ""]
    body += ["## Calibration", "", *_calibration(extra)]
    body += _data_section((results or {}).get("data"))
    body += [
        "## Stage-2 state carried by the weights",
        "",
        *(_stage2_state(state) or ["- none (the stage-1 linear classifier, uncalibrated)"]),
        "",
    ]
    counts, names = extra.get("class_counts"), config.get("label_names")
    if counts:
        shown = [f"{names[i] if names else i}: {n}" for i, n in enumerate(counts)][:50]
        more = (
            f", ... ({len(counts)} classes in all; `config.json` -> `ltzoo.class_counts`)"
            if len(counts) > 50
            else ""
        )
        body += ["## Training class counts", "", ", ".join(shown) + more, ""]
    if files:
        body += ["## Files", "", *[f"- `{name}`" for name in files], ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))
