"""CE, focal, logit-adjusted, balanced softmax, seed-003 re-weighting, and create_loss."""

import math

import numpy as np
import pytest
import torch

from ltzoo.errors import InputError
from ltzoo.losses import LOSSES, create_loss, list_losses
from ltzoo.registry import UnknownNameError

LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 0.3], [0.0, 0.0, 3.0]]
TARGETS = [0, 2, 1]
COUNTS = [100, 10, 1]


def _z():
    return torch.tensor(LOGITS, dtype=torch.float32), torch.tensor(TARGETS)


def _log_softmax(row):
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def _ce(rows, targets):
    return [-_log_softmax(r)[t] for r, t in zip(rows, targets)]


def test_registry_names_and_attributes():
    names = list_losses()
    for name in [
        "ce",
        "class_balanced",
        "focal",
        "ldam",
        "logit_adjusted",
        "balanced_softmax",
        "reweighted_uniform",
        "iwb",
    ]:
        assert name in names
        loss = create_loss(name, class_counts=COUNTS)
        assert isinstance(loss, torch.nn.Module)
        assert loss.needs_features is (name == "iwb")
        loss.set_epoch(3)  # every loss has it


def test_ce_plain_weighted_and_smoothed():
    z, y = _z()
    per = _ce(LOGITS, TARGETS)
    assert create_loss("ce")(z, y).item() == pytest.approx(sum(per) / 3, rel=1e-6)
    # class_counts are accepted and ignored by losses that do not use them
    assert create_loss("ce", class_counts=COUNTS)(z, y).item() == pytest.approx(
        sum(per) / 3, rel=1e-6
    )
    w = [0.5, 2.0, 1.0]
    expect = sum(w[t] * l for t, l in zip(TARGETS, per)) / sum(w[t] for t in TARGETS)
    assert create_loss("ce", weight=w)(z, y).item() == pytest.approx(expect, rel=1e-6)
    eps = 0.1
    smooth = [
        -(1 - eps) * _log_softmax(r)[t] - eps / 3 * sum(_log_softmax(r))
        for r, t in zip(LOGITS, TARGETS)
    ]
    assert create_loss("ce", label_smoothing=eps)(z, y).item() == pytest.approx(
        sum(smooth) / 3, rel=1e-6
    )


def test_focal_by_hand():
    z, y = _z()
    gamma = 2.0
    vals = []
    for r, t in zip(LOGITS, TARGETS):
        p = math.exp(_log_softmax(r)[t])
        vals.append(-((1 - p) ** gamma) * math.log(p))
    assert create_loss("focal", gamma=gamma)(z, y).item() == pytest.approx(sum(vals) / 3, rel=1e-5)
    assert create_loss("focal", gamma=0)(z, y).item() == pytest.approx(
        sum(_ce(LOGITS, TARGETS)) / 3, rel=1e-6
    )


def test_logit_adjusted_is_ce_on_shifted_logits():
    z, y = _z()
    n = sum(COUNTS)
    for tau in [1.0, 0.5]:
        shifted = [[v + tau * math.log(c / n) for v, c in zip(r, COUNTS)] for r in LOGITS]
        expect = sum(_ce(shifted, TARGETS)) / 3
        assert create_loss("logit_adjusted", class_counts=COUNTS, tau=tau)(
            z, y
        ).item() == pytest.approx(expect, rel=1e-6)


def test_balanced_softmax_by_hand():
    z, y = _z()
    # -log(n_y e^{z_y} / sum_j n_j e^{z_j})
    vals = [
        -math.log(COUNTS[t] * math.exp(r[t]) / sum(c * math.exp(v) for c, v in zip(COUNTS, r)))
        for r, t in zip(LOGITS, TARGETS)
    ]
    loss = create_loss("balanced_softmax", class_counts=np.array(COUNTS))
    assert loss(z, y).item() == pytest.approx(sum(vals) / 3, rel=1e-6)
    la = create_loss("logit_adjusted", class_counts=torch.tensor(COUNTS), tau=1.0)
    assert loss(z, y).item() == pytest.approx(la(z, y).item(), rel=1e-6)


def test_reweighted_uniform_clipping():
    # W_i = N / (N_i C) = 111 / (3 N_i) = [0.37, 3.7, 37] -> clipped to [1, 3 ** 0.25 = 1.31607...]
    loss = create_loss("reweighted_uniform", class_counts=COUNTS)
    assert loss.class_weights.tolist() == pytest.approx(
        [1.0, 1.3160740129524924, 1.3160740129524924], rel=1e-6
    )
    # counts [1000, 100, 10, 1], N = 1111: W = [0.27775, 2.7775, 27.775, 277.75]
    loose = create_loss(
        "reweighted_uniform", class_counts=[1000, 100, 10, 1], min_weight=0.1, max_weight=30.0
    )
    assert loose.class_weights.tolist() == pytest.approx([0.27775, 2.7775, 27.775, 30.0], rel=1e-6)
    z, y = _z()
    w = [1.0, 3**0.25, 3**0.25]
    expect = sum(w[t] * l for t, l in zip(TARGETS, _ce(LOGITS, TARGETS))) / 3  # Eq. 4: 1/(s n) sum
    assert loss(z, y).item() == pytest.approx(expect, rel=1e-6)


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError, match="balanced_softmax.*class_balanced"):
        create_loss("class_balance", class_counts=COUNTS)
    with pytest.raises(ValueError, match="ldam"):
        LOSSES.get("ldamm")


@pytest.mark.parametrize(
    "name",
    ["class_balanced", "ldam", "logit_adjusted", "balanced_softmax", "reweighted_uniform", "iwb"],
)
def test_missing_class_counts_names_the_loss(name):
    with pytest.raises(ValueError, match=f"loss '{name}' needs class_counts"):
        create_loss(name)


@pytest.mark.parametrize(
    "name, kwargs, pattern",
    [
        (
            "class_balanced",
            dict(beta=1.0),
            r"class_balanced: beta=1.0 is out of range; allowed range \[0.0, 1.0\)",
        ),
        ("class_balanced", dict(beta=-0.1), r"beta=-0.1 .*\[0.0, 1.0\)"),
        ("class_balanced", dict(loss_type="focal", gamma=-1), r"gamma=-1 .*\[0.0, inf\]"),
        (
            "class_balanced",
            dict(loss_type="hinge"),
            r"loss_type='hinge'.*'softmax', 'sigmoid', 'focal', 'softmax_bce'",
        ),
        ("focal", dict(gamma=-0.5), r"focal: gamma=-0.5 is out of range"),
        ("ce", dict(label_smoothing=1.5), r"ce: label_smoothing=1.5 .*\[0.0, 1.0\]"),
        ("ldam", dict(max_m=0), r"ldam: max_m=0 .*\(0.0, inf\]"),
        ("ldam", dict(s=-1), r"ldam: s=-1"),
        ("ldam", dict(drw_beta=1.2), r"drw_beta=1.2"),
        ("ldam", dict(drw_epoch=-3), r"drw_epoch=-3"),
        ("ldam", dict(drw_epoch=1.5), r"drw_epoch=1.5 must be an integer"),
        ("logit_adjusted", dict(tau=-1), r"logit_adjusted: tau=-1"),
        ("reweighted_uniform", dict(max_weight=0.5), r"max_weight=0.5 .*\[1.0, inf\]"),
        ("reweighted_uniform", dict(min_weight=0), r"min_weight=0"),
        ("iwb", dict(lam=0), r"iwb: lam=0 .*\(0.0, inf\]"),
        ("iwb", dict(variant="official"), r"variant='official'.*'paper', 'reference'"),
        ("iwb", dict(difficulty="matrix"), r"difficulty='matrix'"),
        ("iwb", dict(divergence="js"), r"divergence='js'"),
        ("iwb", dict(base="focal"), r"base='focal'"),
        ("iwb", dict(beta=1.0), r"beta=1.0"),
    ],
)
def test_bad_hyper_parameters(name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        create_loss(name, class_counts=COUNTS, **kwargs)


def test_bad_counts_and_kwargs():
    with pytest.raises(
        ValueError, match="balanced_softmax: class_counts must be positive; classes \\[1\\]"
    ):
        create_loss("balanced_softmax", class_counts=[5, 0, 2])
    with pytest.raises(ValueError, match="1-D"):
        create_loss("ldam", class_counts=[[1, 2]])
    with pytest.raises(ValueError, match="non-negative"):
        create_loss("class_balanced", class_counts=[3, -1])
    with pytest.raises(
        InputError,
        match=r"loss 'ce' does not take \['tau'\]; its options are: weight, label_smoothing",
    ):
        create_loss("ce", tau=1.0)
    loss = create_loss("logit_adjusted", class_counts=COUNTS)
    with pytest.raises(ValueError, match="logits have 4 classes but class_counts has 3"):
        loss(torch.zeros(2, 4), torch.tensor([0, 1]))


@pytest.mark.parametrize("name", ["ce", "focal"])
def test_class_weight_is_checked_and_copied(name):
    weight = torch.tensor([1.0, 2.0])
    loss = create_loss(name, weight=weight)
    weight[0] = 5.0  # the loss keeps its own copy
    assert loss.weight.tolist() == [1.0, 2.0] and loss.weight.dtype == torch.float32
    for bad in ([1.0, -1.0], [1.0, float("nan")], [[1.0, 2.0]]):
        with pytest.raises(
            ValueError,
            match=f"{name}: weight must be a 1-D sequence of non-negative finite numbers",
        ):
            create_loss(name, weight=bad)
