"""Accuracy metrics for long-tailed recognition: Many/Medium/Few, head/tail, per-class spread, ECE.

Definitions:

- Many / Medium / Few (Liu et al., "Large-Scale Long-Tailed Recognition in an Open World",
  CVPR'19, OLTR): a class is *many-shot* when it has more than ``many`` (100) training images,
  *few-shot* when it has fewer than ``few`` (20), *medium-shot* otherwise (``few <= n <= many``).
  A group's accuracy is the mean of the per-class accuracies of its classes.
- Head / tail: the classes sorted by training count, descending (stable, so ties keep their
  index order), split into halves; the first ``C // 2`` are head, the rest tail (for odd ``C``
  the middle class is tail). This is the split of the weight-decay/tau-norm CIFAR-LT study after
  Alshammari et al. (CVPR'22) and of Lee's (2022) head/tail experts.
- Standard deviation of per-class accuracy (Park, Piao and Kim), population (``ddof = 0``).
- Expected calibration error (Guo et al., "On Calibration of Modern Neural Networks",
  ICML'17, Eq. 3): ``sum_m |B_m| / n * |acc(B_m) - conf(B_m)|`` over equal-width confidence
  bins ``(m / M, (m + 1) / M]``.

Everything is computed on CPU in float64, a block of rows at a time; gathering logits across
processes is the caller's job.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from ltzoo.data.longtail import class_groups
from ltzoo.evaluation._common import (
    as_counts,
    as_float64,
    check_logits_targets,
    counts_to_list,
    row_chunks,
)

__all__ = [
    "binned_ece",
    "class_group_indices",
    "confidence_and_correct",
    "confidence_bins",
    "evaluate_logits",
    "expected_calibration_error",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "weight_norms",
]


def class_group_indices(counts: Any, many: float = 100, few: float = 20) -> Dict[str, List[int]]:
    """Class indices (lists of int) of the groups of :func:`ltzoo.data.longtail.class_groups`, the one
    definition: ``many`` / ``medium`` / ``few`` by training count (Liu et al. CVPR'19) and the
    ``head`` / ``tail`` halves by count, descending, stable."""
    groups = class_groups(as_counts(counts).long().numpy(), many=many, few=few)
    return {k: [int(i) for i in groups[k]] for k in ("many", "medium", "few", "head", "tail")}


def _number(v: Any) -> Any:
    """A plain Python int (whole values) or float, for JSON."""
    return int(v) if float(v).is_integer() else float(v)


def _mean_over(acc: torch.Tensor, has_samples: torch.Tensor, idx: Sequence[int]) -> Optional[float]:
    """Mean of ``acc`` over the classes in ``idx`` that have test samples; None if there are none."""
    sel = [i for i in idx if bool(has_samples[i])]
    return float(acc[sel].mean()) if sel else None


def _per_sample(
    z: torch.Tensor, y: torch.Tensor, ks: Sequence[int] = ()
) -> Dict[str, torch.Tensor]:
    """Per-sample float64 ``correct`` (top-1), ``conf`` (top softmax probability), ``nll``, ``top{k}``."""
    names = ["correct", "conf", "nll", *(f"top{k}" for k in ks)]
    parts: Dict[str, List[torch.Tensor]] = {name: [] for name in names}
    for zc, yc in row_chunks(z, y):
        lse = torch.logsumexp(zc, dim=1)
        top, pred = zc.max(dim=1)  # ties: lowest index
        parts["correct"].append((pred == yc).to(torch.float64))
        parts["conf"].append(torch.exp(top - lse))
        parts["nll"].append(lse - zc.gather(1, yc[:, None]).squeeze(1))
        for k in ks:
            hit = (zc.topk(k, dim=1).indices == yc[:, None]).any(dim=1)
            parts[f"top{k}"].append(hit.to(torch.float64))
    return {name: torch.cat(v) for name, v in parts.items()}


def confidence_bins(
    conf: torch.Tensor, correct: torch.Tensor, num_bins: int = 15
) -> Dict[str, torch.Tensor]:
    """Equal-width confidence bins (Guo et al. ICML'17, Sec. 2): bin ``m`` of ``M`` holds the
    confidences in ``(m / M, (m + 1) / M]``. Returns float64 ``count``, ``confidence`` (sum of the
    confidences) and ``correct`` (sum of the correct flags) per bin, each of length ``num_bins``."""
    if int(num_bins) < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    num_bins = int(num_bins)
    conf, correct = conf.to(torch.float64), correct.to(torch.float64)
    inner = torch.linspace(0.0, 1.0, num_bins + 1, dtype=torch.float64)[1:-1]
    bins = torch.bucketize(conf, inner, right=False)  # boundaries[m] < conf <= boundaries[m + 1]
    return {
        "count": torch.bincount(bins, minlength=num_bins).to(torch.float64),
        "confidence": torch.bincount(bins, weights=conf, minlength=num_bins),
        "correct": torch.bincount(bins, weights=correct, minlength=num_bins),
    }


def binned_ece(bins: Dict[str, torch.Tensor]) -> float:
    """ECE in percent of :func:`confidence_bins`' bins:
    ``sum_m |B_m| / N * |acc(B_m) - conf(B_m)| == sum_m |sum_{i in B_m} (correct_i - conf_i)| / N``."""
    return float((bins["correct"] - bins["confidence"]).abs().sum() / bins["count"].sum() * 100.0)


def confidence_and_correct(logits: Any, targets: Any) -> Dict[str, torch.Tensor]:
    """Per sample, float64: ``conf`` (the top softmax probability) and ``correct`` (its argmax is the target)."""
    z, y = check_logits_targets(logits, targets)
    s = _per_sample(z, y)
    return {"conf": s["conf"], "correct": s["correct"]}


def expected_calibration_error(logits: Any, targets: Any, num_bins: int = 15) -> float:
    """Expected calibration error in percent (Guo et al. ICML'17) with ``num_bins`` equal-width bins.

    Confidence is the top softmax probability, the prediction its argmax; bin ``m`` holds the
    confidences in ``(m / M, (m + 1) / M]``.
    """
    s = confidence_and_correct(logits, targets)
    return binned_ece(confidence_bins(s["conf"], s["correct"], num_bins))


def evaluate_logits(
    logits: Any,
    targets: Any,
    class_counts: Any,
    many: float = 100,
    few: float = 20,
    topk: Sequence[int] = (1, 5),
    num_bins: int = 15,
) -> Dict[str, Any]:
    """All evaluation metrics from a model's test logits, as a JSON-serialisable dict.

    Args:
        logits: (N, C) scores, torch tensor or numpy array (any device/dtype; gathered already).
        targets: (N,) integer labels in ``[0, C)``.
        class_counts: (C,) **training** images per class; they define the groups.
        many, few: OLTR thresholds (Liu et al. CVPR'19): many-shot ``n > many``, medium-shot
            ``few <= n <= many``, few-shot ``n < few``.
        topk: top-k accuracies to report as ``"top{k}"``; a ``k`` larger than ``C`` is skipped
            (so ``top5`` is absent when ``C < 5``). ``top1`` is always reported.
        num_bins: equal-width bins of the expected calibration error.

    Returns:
        ``top1``, ``top5`` (``top{k}``): sample-level accuracy, percent.
        ``many``, ``medium``, ``few``, ``head``, ``tail``: mean per-class accuracy of the group,
        percent; None if no class of the group has a test sample.
        ``per_class_accuracy``: list of C percentages (None for a class without test samples).
        ``mean_per_class``: balanced accuracy, the mean of ``per_class_accuracy``.
        ``per_class_std``: population standard deviation of ``per_class_accuracy``, percentage points.
        ``ece``: expected calibration error, percent. ``nll``: mean negative log-likelihood, nats.
        ``num_samples``, ``num_classes``, ``class_counts``, ``thresholds`` (``{"many", "few"}``),
        ``group_sizes``: number of classes per group (``many``/``medium``/``few``/``head``/``tail``),
        counted from the training counts whether or not the class has test samples.

    Classes without test samples are left out of every class mean and of the std.
    Argmax ties go to the lowest class index.
    """
    z, y = check_logits_targets(logits, targets)
    counts = as_counts(class_counts)
    n_samples, num_classes = z.shape
    if counts.numel() != num_classes:
        raise ValueError(
            f"class_counts shape {tuple(counts.shape)} does not match logits shape {tuple(z.shape)}: "
            f"expected ({num_classes},)"
        )
    ks = sorted({int(k) for k in topk} - {1})
    if ks and ks[0] < 1:
        raise ValueError(f"topk values must be >= 1, got {tuple(topk)}")
    ks = [k for k in ks if k <= num_classes]
    s = _per_sample(z, y, ks)
    correct = s["correct"]
    out: Dict[str, Any] = {"num_samples": int(n_samples), "num_classes": int(num_classes)}
    out["top1"] = float(correct.mean() * 100.0)
    for k in ks:
        out[f"top{k}"] = float(s[f"top{k}"].mean() * 100.0)

    acc, has = per_class_accuracy(correct, y, num_classes)
    groups = class_group_indices(counts, many, few)
    for name, idx in groups.items():
        out[name] = _mean_over(acc, has, idx)
    seen = acc[has]
    out["per_class_accuracy"] = [
        float(a) if h else None for a, h in zip(acc.tolist(), has.tolist())
    ]
    out["mean_per_class"] = float(seen.mean())
    out["per_class_std"] = float(seen.std(correction=0)) if seen.numel() > 1 else 0.0
    out["ece"] = binned_ece(confidence_bins(s["conf"], correct, num_bins))
    out["nll"] = float(s["nll"].mean())
    out["class_counts"] = counts_to_list(counts)
    out["thresholds"] = {"many": _number(many), "few": _number(few)}
    out["group_sizes"] = {name: len(idx) for name, idx in groups.items()}
    return out


def per_class_accuracy(correct: torch.Tensor, targets: torch.Tensor, num_classes: int):
    """``(accuracy, has)``: per-class accuracy in percent (float64, 0 where a class has no sample)
    and the mask of classes with samples, from per-sample ``correct`` flags."""
    per_n = torch.bincount(targets, minlength=num_classes).to(torch.float64)
    per_hit = torch.bincount(targets, weights=correct.to(torch.float64), minlength=num_classes)
    has = per_n > 0
    return torch.where(has, per_hit / per_n.clamp_min(1) * 100.0, torch.zeros_like(per_n)), has


def mean_per_class_accuracy(logits: Any, targets: Any) -> float:
    """Balanced accuracy (percent): the mean over classes with samples of their top-1 accuracy
    (what methods that choose on a validation split maximise, and ``evaluate_logits``'s ``mean_per_class``)."""
    z, y = check_logits_targets(logits, targets)
    acc, has = per_class_accuracy((z.argmax(1).cpu() == y).double(), y, z.shape[1])
    return float(acc[has].mean())


def weight_norms(weight: Any) -> List[float]:
    """Per-class L2 norms ``||w_i||_2`` of a (C, D) classifier weight.

    ``weight`` is a tensor, an array, or a module whose ``.weight`` is used (e.g. ``nn.Linear``).

    The norms grow with the class's training count after joint training (Kang et al. ICLR'20),
    which is what tau-normalisation flattens.
    """
    if isinstance(weight, torch.nn.Module):
        weight = weight.weight
    w = as_float64(weight, "weight")
    if w.dim() != 2:
        raise ValueError(f"weight must be 2-D (C, D), got shape {tuple(w.shape)}")
    return [float(v) for v in torch.linalg.vector_norm(w, dim=1).tolist()]
