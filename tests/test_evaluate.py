"""Accuracy metrics of ltzoo.evaluation against hand-computed numbers."""

import json
import math

import numpy as np
import pytest
import torch

from ltzoo.evaluation import (
    class_group_indices,
    evaluate_logits,
    expected_calibration_error,
    format_per_class,
    format_table,
    weight_norms,
)

COUNTS = [150, 50, 30, 5]  # many: {0}; medium: {1, 2}; few: {3}; head {0, 1}, tail {2, 3}
# (target, prediction) pairs: class 0 3/4 right, class 1 1/2, class 2 2/2, class 3 0/2
PAIRS = [(0, 0), (0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 2), (3, 0), (3, 1)]
A = math.log(27.0)  # logit of the predicted class, the rest 0: confidence 27 / (27 + 3) = 0.9


def _case():
    logits = torch.zeros(len(PAIRS), 4)
    for i, (_, p) in enumerate(PAIRS):
        logits[i, p] = A
    targets = torch.tensor([t for t, _ in PAIRS])
    return logits, targets


def test_hand_computed_metrics():
    r = evaluate_logits(*_case(), COUNTS)
    assert r["per_class_accuracy"] == pytest.approx([75.0, 50.0, 100.0, 0.0])
    assert r["top1"] == pytest.approx(60.0)
    assert r["many"] == pytest.approx(75.0)
    assert r["medium"] == pytest.approx((50.0 + 100.0) / 2)
    assert r["few"] == pytest.approx(0.0)
    assert r["head"] == pytest.approx((75.0 + 50.0) / 2)
    assert r["tail"] == pytest.approx((100.0 + 0.0) / 2)
    assert r["mean_per_class"] == pytest.approx(56.25)
    # deviations from 56.25: 18.75, -6.25, 43.75, -56.25 -> population variance 5468.75 / 4
    assert r["per_class_std"] == pytest.approx(math.sqrt(5468.75 / 4))
    assert r["group_sizes"] == {"many": 1, "medium": 2, "few": 1, "head": 2, "tail": 2}
    assert r["class_counts"] == COUNTS
    assert r["num_samples"] == 10 and r["num_classes"] == 4
    assert "top5" not in r  # C = 4 < 5
    json.dumps(r)  # plain Python only


def test_ece_single_bin_and_nll():
    logits, targets = _case()
    r = evaluate_logits(logits, targets, COUNTS)
    # every confidence is 0.9 -> one bin (0.8667, 0.9333]; accuracy 0.6 -> |0.6 - 0.9|
    assert r["ece"] == pytest.approx(30.0)
    # right: -log 0.9; wrong: the target has probability 1 / 30
    assert r["nll"] == pytest.approx((6 * -math.log(0.9) + 4 * math.log(30.0)) / 10)
    manual = -torch.log_softmax(logits.double(), 1)[torch.arange(10), targets].mean()
    assert r["nll"] == pytest.approx(float(manual))


def test_ece_two_bins():
    # 2 samples at confidence 0.9, both right; 2 at confidence 0.6, one right
    a9, a6 = math.log(27.0), math.log(4.5)  # 4.5 / (4.5 + 3) = 0.6
    logits = torch.tensor(
        [[a9, 0, 0, 0], [0, a9, 0, 0], [a6, 0, 0, 0], [0, a6, 0, 0]], dtype=torch.float64
    )
    targets = torch.tensor([0, 1, 0, 2])
    assert expected_calibration_error(logits, targets) == pytest.approx(0.5 * 10.0 + 0.5 * 10.0)
    # one bin: |accuracy - mean confidence| = |0.75 - 0.75|
    assert expected_calibration_error(logits, targets, num_bins=1) == pytest.approx(0.0, abs=1e-9)


def test_topk():
    logits = torch.tensor(
        [
            [6.0, 5, 4, 3, 2, 1],  # target 0: rank 1
            [6.0, 5, 4, 3, 2, 1],  # target 1: rank 2
            [6.0, 5, 4, 3, 2, 1],  # target 4: rank 5
            [6.0, 5, 4, 3, 2, 1],  # target 5: rank 6
        ]
    )
    targets = torch.tensor([0, 1, 4, 5])
    r = evaluate_logits(logits, targets, [100] * 6, topk=(1, 2, 5, 7))
    assert (r["top1"], r["top2"], r["top5"]) == pytest.approx((25.0, 50.0, 75.0))
    assert "top7" not in r


def test_numpy_input_matches_torch():
    logits, targets = _case()
    r_t = evaluate_logits(logits, targets, torch.tensor(COUNTS))
    r_n = evaluate_logits(logits.numpy(), targets.numpy(), np.array(COUNTS))
    assert r_t == r_n


def test_empty_group_and_class_without_samples():
    logits, targets = _case()
    keep = targets != 3  # class 3 has no test sample
    r = evaluate_logits(logits[keep], targets[keep], [150, 120, 110, 105])  # all many-shot
    assert r["medium"] is None and r["few"] is None
    assert r["group_sizes"]["many"] == 4
    assert r["per_class_accuracy"][3] is None
    assert r["many"] == pytest.approx((75.0 + 50.0 + 100.0) / 3)
    assert r["tail"] == pytest.approx(100.0)  # tail {2, 3}, class 3 left out
    assert r["per_class_std"] == pytest.approx(float(np.std([75.0, 50.0, 100.0])))


def _pick(groups, *names):
    return {k: groups[k] for k in names}


def test_groups_boundaries_and_halves():
    assert _pick(class_group_indices([101, 100, 20, 19]), "many", "medium", "few") == {
        "many": [0],
        "medium": [1, 2],
        "few": [3],
    }
    assert _pick(
        class_group_indices([101, 100, 20, 19], many=50, few=5), "many", "medium", "few"
    ) == {"many": [0, 1], "medium": [2, 3], "few": []}
    halves = [
        _pick(class_group_indices(c), "head", "tail")
        for c in ([10, 30, 20], [5, 5, 5, 5], [1, 9, 9, 1])
    ]
    assert halves[0] == {"head": [1], "tail": [0, 2]}  # odd C: middle class is tail
    assert halves[1] == {"head": [0, 1], "tail": [2, 3]}  # ties keep index order
    assert halves[2] == {"head": [1, 2], "tail": [0, 3]}


def test_shape_errors_name_both_shapes():
    logits, targets = _case()
    with pytest.raises(ValueError, match=r"\(9,\).*\(10, 4\)"):
        evaluate_logits(logits, targets[:9], COUNTS)
    with pytest.raises(ValueError, match=r"\(3,\).*\(10, 4\)"):
        evaluate_logits(logits, targets, COUNTS[:3])
    with pytest.raises(ValueError, match=r"2-D"):
        evaluate_logits(logits[0], targets[:1], COUNTS)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        evaluate_logits(logits, targets + 1, COUNTS)


def test_weight_norms():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], requires_grad=True)
    assert weight_norms(w) == pytest.approx([5.0, 0.0, 1.0])
    fc = torch.nn.Linear(2, 3)
    with torch.no_grad():
        fc.weight.copy_(w)
    assert weight_norms(fc) == pytest.approx([5.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="2-D"):
        weight_norms(torch.ones(3))


def test_format_table_and_per_class():
    r = evaluate_logits(*_case(), COUNTS)
    r2 = dict(r, few=None, top1=100.0)
    text = format_table({"stage1": r, "tau_norm": r2})
    lines = text.splitlines()
    assert lines[0].split() == ["Method", "All", "Many", "Medium", "Few", "Std", "ECE"]
    assert lines[2].split() == ["stage1", "60.00", "75.00", "75.00", "0.00", "36.98", "30.00"]
    assert lines[3].split() == ["tau_norm", "100.00", "75.00", "75.00", "-", "36.98", "30.00"]
    assert len({len(line) for line in lines}) == 1  # right-aligned numbers: same width
    full = format_table({"stage1": r, "lws": r}, per_class=True, class_names=["a", "b", "c", "d"])
    per = format_per_class({"stage1": r, "lws": r}, class_names=["a", "b", "c", "d"])
    assert full.endswith(per)
    plines = per.splitlines()
    assert plines[0].split() == ["#", "Class", "Train", "stage1", "lws"]
    assert plines[2].split() == ["0", "a", "150", "75.0", "75.0"]
    assert plines[5].split() == ["3", "d", "5", "0.0", "0.0"]
    with pytest.raises(ValueError, match="class_names"):
        format_per_class({"stage1": r}, class_names=["a"])


def _reference_ece(logits, targets, num_bins=15):
    """Guo et al.'s loop over bins (lower < conf <= upper), as in their released code."""
    conf, pred = torch.softmax(logits.double(), 1).max(1)
    acc = (pred == targets).double()
    edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.double().mean() * (acc[in_bin].mean() - conf[in_bin].mean()).abs()
    return float(ece) * 100.0


def test_large_input_matches_reference():
    g = torch.Generator().manual_seed(0)
    n, c = 9000, 50  # more rows than one float64 block
    targets = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g) * 2.0
    logits[torch.arange(n), targets] += 2.0
    counts = torch.linspace(500, 5, c).round().long()
    r = evaluate_logits(logits.requires_grad_(), targets, counts)
    z = logits.detach().double()
    assert r["top1"] == pytest.approx(float((z.argmax(1) == targets).double().mean() * 100))
    top5 = (z.topk(5, 1).indices == targets[:, None]).any(1)
    assert r["top5"] == pytest.approx(float(top5.double().mean() * 100))
    assert r["nll"] == pytest.approx(float(torch.nn.functional.cross_entropy(z, targets)))
    assert r["ece"] == pytest.approx(_reference_ece(z, targets))
    per_class = [float((z[targets == k].argmax(1) == k).double().mean() * 100) for k in range(c)]
    assert r["per_class_accuracy"] == pytest.approx(per_class)
    assert r["per_class_std"] == pytest.approx(float(np.std(per_class)))
    many = [a for a, m in zip(per_class, counts.tolist()) if m > 100]
    assert r["many"] == pytest.approx(float(np.mean(many)))
    assert r["group_sizes"]["many"] == len(many)
    half = evaluate_logits(
        logits.detach().half(), targets, counts
    )  # float16 is upcast, not an error
    assert half["num_samples"] == n


def test_groups_agree_with_data_class_groups():
    """The metrics' groups are the data layer's groups (one definition)."""
    from ltzoo.data import longtail

    for counts in (
        [150, 50, 30, 5],
        [101, 100, 20, 19],
        [10, 30, 20],
        [5, 5, 5, 5],
        list(range(37)),
    ):
        theirs = {k: [int(i) for i in v] for k, v in longtail.class_groups(counts, 100, 20).items()}
        assert class_group_indices(counts, 100, 20) == theirs


def test_confidence_bins_by_hand():
    """Bins (0, .25], (.25, .5], (.5, .75], (.75, 1]: a confidence on an edge goes to the lower bin."""
    from ltzoo.evaluation import binned_ece, confidence_bins

    conf = torch.tensor([0.1, 0.25, 0.3, 0.9, 1.0], dtype=torch.float64)
    correct = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    bins = confidence_bins(conf, correct, num_bins=4)
    assert bins["count"].tolist() == [2, 1, 0, 2]
    assert bins["confidence"].tolist() == pytest.approx([0.35, 0.3, 0.0, 1.9])
    assert bins["correct"].tolist() == [1, 1, 0, 1]
    # (2 |1/2 - .175| + 1 |1 - .3| + 2 |1/2 - .95|) / 5 = (.65 + .7 + .9) / 5
    assert binned_ece(bins) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="num_bins must be >= 1"):
        confidence_bins(conf, correct, num_bins=0)
