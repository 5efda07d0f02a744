"""Class-balanced loss (Cui et al. CVPR'19) and LDAM-DRW (Cao et al. NeurIPS'19) by hand."""

import math

import pytest
import torch

from ltzoo.losses import class_balanced_weights, create_loss

COUNTS = [100, 10, 1]
# beta = 0.9: E_j = (1 - 0.9^n_j) / 0.1 = [9.99973439, 6.51321560, 1.0];
# 1/E normalised to sum to 3:
CB_W_09 = [0.23932923600883352, 0.36744197309586163, 2.393228790895305]
LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 0.3]]
TARGETS = [0, 2]


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_cb_weights_by_hand():
    w = class_balanced_weights(COUNTS, beta=0.9)
    assert w.tolist() == pytest.approx(CB_W_09, rel=1e-9)
    assert float(w.sum()) == pytest.approx(3.0)
    assert class_balanced_weights(COUNTS, beta=0.0).tolist() == pytest.approx([1.0, 1.0, 1.0])
    loss = create_loss("class_balanced", class_counts=COUNTS, beta=0.9)
    assert loss.class_weights.tolist() == pytest.approx(CB_W_09, rel=1e-6)


@pytest.mark.parametrize("loss_type", ["softmax", "sigmoid", "focal", "softmax_bce"])
def test_cb_loss_forms_by_hand(loss_type):
    gamma = 2.0
    per = []
    for row, t in zip(LOGITS, TARGETS):
        a = CB_W_09[t]
        if loss_type == "softmax":
            per.append(a * -math.log(_softmax(row)[t]))
        elif loss_type == "sigmoid":
            per.append(a * -sum(math.log(_sig(v if j == t else -v)) for j, v in enumerate(row)))
        elif loss_type == "focal":
            pts = [_sig(v if j == t else -v) for j, v in enumerate(row)]
            per.append(a * -sum((1 - p) ** gamma * math.log(p) for p in pts))
        else:  # BCE on softmax probabilities, averaged over the B x C entries
            p = _softmax(row)
            per.extend(
                a * -(math.log(pj) if j == t else math.log(1 - pj)) for j, pj in enumerate(p)
            )
    loss = create_loss(
        "class_balanced", class_counts=COUNTS, beta=0.9, loss_type=loss_type, gamma=gamma
    )
    value = loss(torch.tensor(LOGITS), torch.tensor(TARGETS)).item()
    assert value == pytest.approx(sum(per) / len(per), rel=1e-5)


def test_ldam_margins_by_hand():
    # Delta_j ∝ n_j^{-1/4}, rarest class gets max_m = 0.5: 0.5 * (1 / n_j)^{1/4}
    loss = create_loss("ldam", class_counts=COUNTS)
    assert loss.margins.tolist() == pytest.approx(
        [0.15811388300841897, 0.28117066259517454, 0.5], rel=1e-6
    )
    assert loss.s == 30.0 and loss.drw_epoch == 160


def _ldam_by_hand(weights, s=30.0, max_m=0.5):
    margins = [max_m * (1.0 / n) ** 0.25 for n in COUNTS]
    num = den = 0.0
    for row, t in zip(LOGITS, TARGETS):
        z = [s * (v - (margins[t] if j == t else 0.0)) for j, v in enumerate(row)]
        m = max(z)
        ce = -(z[t] - m - math.log(sum(math.exp(v - m) for v in z)))
        num += weights[t] * ce
        den += weights[t]
    return num / den


def test_ldam_drw_switches_at_epoch():
    z, y = torch.tensor(LOGITS), torch.tensor(TARGETS)
    loss = create_loss("ldam", class_counts=COUNTS, drw_epoch=2, drw_beta=0.9)
    plain = _ldam_by_hand([1.0, 1.0, 1.0])
    reweighted = _ldam_by_hand(CB_W_09)
    assert plain != pytest.approx(reweighted)
    loss.set_epoch(0)
    assert not loss.drw_active and loss(z, y).item() == pytest.approx(plain, rel=1e-5)
    loss.set_epoch(1)
    assert loss(z, y).item() == pytest.approx(plain, rel=1e-5)
    loss.set_epoch(2)
    assert loss.drw_active and loss(z, y).item() == pytest.approx(reweighted, rel=1e-5)
    loss.set_epoch(5)
    assert loss(z, y).item() == pytest.approx(reweighted, rel=1e-5)
    never = create_loss("ldam", class_counts=COUNTS, drw_epoch=None)
    never.set_epoch(10_000)
    assert not never.drw_active


def test_ldam_default_drw_at_160():
    loss = create_loss("ldam", class_counts=COUNTS)
    loss.set_epoch(159)
    assert not loss.drw_active
    loss.set_epoch(160)
    assert loss.drw_active
    # default DRW weights: CB with beta 0.9999
    e = [(1 - 0.9999**n) / (1 - 0.9999) for n in COUNTS]
    w = [1 / v for v in e]
    assert loss.drw_weights.tolist() == pytest.approx([3 * v / sum(w) for v in w], rel=1e-5)
