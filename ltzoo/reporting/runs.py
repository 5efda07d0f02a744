"""What a report reads from a run folder: ``results.json``, ``config.yaml``, ``log.jsonl`` and,
for the reliability diagram, the test-set confidences of every head (recomputed by reloading the
encoder and the heads; the run folder is never written)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from ltzoo.errors import InputError
from ltzoo.evaluation import binned_ece, confidence_and_correct, confidence_bins
from ltzoo.run_folder import CONFIG, RESULTS, check_run_dir, read_epoch_log


@dataclass
class RunData:
    path: Path
    label: str
    results: Dict[str, Any]
    log: List[Dict[str, Any]] = field(default_factory=list)
    reliability: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    reliability_error: Optional[str] = None

    @property
    def counts(self) -> List[int]:
        return list(self.results["class_counts"])

    @property
    def methods(self) -> Dict[str, Dict[str, Any]]:
        return self.results["methods"]

    @property
    def thresholds(self) -> Dict[str, float]:
        first = next(iter(self.methods.values()), {})
        return first.get("thresholds", {"many": 100, "few": 20})


def reliability_bins(logits: Any, targets: Any, num_bins: int = 15) -> Dict[str, Any]:
    """Per confidence bin ``(m/M, (m+1)/M]`` (Guo et al. ICML'17, Sec. 2): sample count, mean
    confidence and accuracy (percent), from :func:`ltzoo.evaluation.confidence_bins`; ``ece`` is
    :func:`ltzoo.evaluation.expected_calibration_error`'s."""
    s = confidence_and_correct(logits, targets)
    bins = confidence_bins(s["conf"], s["correct"], num_bins)
    count = bins["count"]
    mean_conf, accuracy = (
        bins["confidence"] / count.clamp_min(1),
        bins["correct"] / count.clamp_min(1),
    )
    return {
        "edges": torch.linspace(0, 1, num_bins + 1).tolist(),
        "count": [int(c) for c in count.tolist()],
        "confidence": (mean_conf * 100).tolist(),
        "accuracy": (accuracy * 100).tolist(),
        "ece": binned_ece(bins),
        "num_samples": int(s["conf"].numel()),
    }


def run_reliability(
    run_dir: Path, data_root: Optional[str] = None, num_bins: int = 15
) -> Dict[str, Dict[str, Any]]:
    """Reliability bins of every head of a run on its test split (reloads encoder and heads)."""
    from ltzoo.hub import load_pretrained
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.config import load_config
    from ltzoo.train.features import extract_features, head_logits
    from ltzoo.train.reload import load_heads

    run_dir = check_run_dir(run_dir)
    cfg = load_config(run_dir / CONFIG, [f"data.root={data_root}"] if data_root else [])
    model = load_pretrained(run_dir).eval()
    heads = load_heads(run_dir, model.num_features)
    features = extract_features(model, build_datasets(cfg)["test"])
    return {
        name: reliability_bins(head_logits(head, features), features.labels, num_bins)
        for name, head in heads.items()
    }


def load_run(
    path,
    label: Optional[str] = None,
    methods: Optional[Sequence[str]] = None,
    reliability: bool = True,
    data_root: Optional[str] = None,
) -> RunData:
    """A run folder's data for the report; ``methods`` keeps only those (in that order)."""
    path = Path(path)
    results_path = path / RESULTS
    if not results_path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a run folder: it has no results.json (write one with ltzoo train)"
        )
    results = json.loads(results_path.read_text())
    if methods:
        unknown = [m for m in methods if m not in results["methods"]]
        if unknown:
            raise InputError(
                f"--methods {','.join(unknown)} not in run {str(path)!r}; its methods: {', '.join(results['methods'])}"
            )
        results["methods"] = {m: results["methods"][m] for m in methods}
    run = RunData(path, label or path.name, results, read_epoch_log(path))
    if reliability:
        add_reliability(run, data_root)
    return run


def add_reliability(run: RunData, data_root: Optional[str] = None) -> RunData:
    """Fill ``run.reliability`` (reloads the run's model and heads; the slow part of a report), or
    ``run.reliability_error`` saying why it cannot be drawn."""
    try:
        bins = run_reliability(run.path, data_root)
        run.reliability = {m: bins[m] for m in run.methods if m in bins}
    except (
        OSError,
        ValueError,
        KeyError,
        RuntimeError,
    ) as error:  # data moved, weights missing, ...
        run.reliability_error = f"{type(error).__name__}: {error}"
    return run
