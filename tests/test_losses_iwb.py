"""IWB (Dang et al. AAAI'24) checked against a hand computation on 3 classes.

Counts [6, 2, 1] -> N = 9, NC_j = log2(9 / (N_j + 1)) = log2([9/7, 3, 9/2]).
W rows (2, 0), (0, 1), (-0.5, 0) -> |W| = [2, 1, 0.5].
Sample 1: x = (1, 0), y = 2; sample 2: x = (1, 1), y = 1. lambda = 0.5.
Vector difficulty: g1 = [1, 0, -1] -> HC1 = [0, 0.5, 1];
                   g2 = [s, s, -s], s = 1/sqrt(2) -> HC2 = [(1-s)/2, (1-s)/2, (1+s)/2].
Scalar difficulty: g1 = cos(x1, w_2) = -1 -> HC1 = 1; g2 = cos(x2, w_1) = s -> HC2 = (1-s)/2.
"""

import math

import pytest
import torch

from ltzoo.losses import IWBLoss, create_loss, iwb_number_coefficient

COUNTS = [6, 2, 1]
NC = [0.36257007938470837, 1.584962500721156, 2.169925001442312]
W = [[2.0, 0.0], [0.0, 1.0], [-0.5, 0.0]]
X = [[1.0, 0.0], [1.0, 1.0]]
Y = [2, 1]
LAM = 0.5
S = 1 / math.sqrt(2)
HC = {
    "vector": [[0.0, 0.5, 1.0], [(1 - S) / 2, (1 - S) / 2, (1 + S) / 2]],
    "scalar": [[1.0, 1.0, 1.0], [(1 - S) / 2] * 3],
}
# P = lambda * NC * HC, from an independent plain-Python computation:
P = {
    "vector": [
        [0.0, 0.396240625180289, 1.084962500721156],
        [0.02654857939910906, 0.11605619213370963, 0.9260734211571],
    ],
    "scalar": [
        [0.18128503969235418, 0.792481250360578, 1.084962500721156],
        [0.02654857939910906, 0.11605619213370963, 0.15888907956405612],
    ],
}
# softmax(|W|) = softmax([2, 1, 0.5])
Q = [0.6285317192117624, 0.23122389762214907, 0.14024438316608848]
# paper: mean over the batch of KL(softmax(|W|) || softmax(P_i));
# reference: sum over the batch of KL(softmax(P_i) || softmax(|W|))
KL = {
    ("paper", "vector"): 0.5039168247882349,
    ("reference", "vector"): 1.0618590939558559,
    ("paper", "scalar"): 0.3623363459863508,
    ("reference", "scalar"): 0.7052852963506708,
}
MSE_MEAN = {"vector": 1.594018705847664, "scalar": 1.414198848421031}
LOGITS = [[0.3, -0.2, 1.0], [1.5, 0.1, -0.4]]


def _softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def _tensors(requires_grad=False):
    return (
        torch.tensor(LOGITS),
        torch.tensor(Y),
        torch.tensor(X),
        torch.tensor(W, requires_grad=requires_grad),
    )


def _ce_by_hand():
    return sum(-math.log(_softmax(r)[t]) for r, t in zip(LOGITS, Y)) / len(Y)


def test_number_coefficient_and_hand_values_consistent():
    assert iwb_number_coefficient(COUNTS).tolist() == pytest.approx(NC, rel=1e-12)
    assert NC == pytest.approx([math.log2(9 / 7), math.log2(3), math.log2(4.5)])
    for diff in ("vector", "scalar"):
        for p_row, hc_row in zip(P[diff], HC[diff]):
            assert p_row == pytest.approx([LAM * n * h for n, h in zip(NC, hc_row)], rel=1e-12)
    assert _softmax([2.0, 1.0, 0.5]) == pytest.approx(Q, rel=1e-12)
    # the KL literals follow from P and Q
    for (variant, diff), value in KL.items():
        terms = []
        for p_row in P[diff]:
            sp = _softmax(p_row)
            if variant == "paper":
                terms.append(sum(q * (math.log(q) - math.log(p)) for q, p in zip(Q, sp)))
            else:
                terms.append(sum(p * (math.log(p) - math.log(q)) for q, p in zip(Q, sp)))
        agg = sum(terms) / len(terms) if variant == "paper" else sum(terms)
        assert agg == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("difficulty", ["vector", "scalar"])
def test_target_distribution(difficulty):
    loss = IWBLoss(COUNTS, lam=LAM, difficulty=difficulty)
    _, y, x, w = _tensors()
    got = loss.target_distribution(x, w, y)
    assert got.shape == (2, 3)
    assert got.flatten().tolist() == pytest.approx(sum(P[difficulty], []), abs=1e-6)
    assert loss.weight_norms(w).tolist() == pytest.approx([2.0, 1.0, 0.5])


@pytest.mark.parametrize("variant", ["paper", "reference"])
@pytest.mark.parametrize("difficulty", ["vector", "scalar"])
def test_divergence_and_total_by_hand(variant, difficulty):
    loss = create_loss(
        "iwb", class_counts=COUNTS, lam=LAM, base="ce", variant=variant, difficulty=difficulty
    )
    z, y, x, w = _tensors()
    total = loss(z, y, x, w)
    assert loss.last_terms["divergence"].item() == pytest.approx(
        KL[(variant, difficulty)], rel=1e-5
    )
    assert loss.last_terms["base"].item() == pytest.approx(_ce_by_hand(), rel=1e-6)
    assert total.item() == pytest.approx(_ce_by_hand() + KL[(variant, difficulty)], rel=1e-5)


@pytest.mark.parametrize("difficulty", ["vector", "scalar"])
def test_mse_ablation(difficulty):
    z, y, x, w = _tensors()
    paper = create_loss(
        "iwb", class_counts=COUNTS, lam=LAM, divergence="mse", difficulty=difficulty
    )
    assert paper.divergence_term(x, w, y).item() == pytest.approx(MSE_MEAN[difficulty], rel=1e-5)
    ref = create_loss(
        "iwb",
        class_counts=COUNTS,
        lam=LAM,
        divergence="mse",
        difficulty=difficulty,
        variant="reference",
    )
    assert ref.divergence_term(x, w, y).item() == pytest.approx(2 * MSE_MEAN[difficulty], rel=1e-5)


def test_variant_defaults_and_cb_bases():
    paper = create_loss("iwb", class_counts=COUNTS)
    ref = create_loss("iwb", class_counts=COUNTS, variant="reference")
    assert paper.lam == 0.15 and ref.lam == 0.01
    assert paper.base_loss.loss_type == "softmax" and ref.base_loss.loss_type == "softmax_bce"
    assert paper.base_loss.beta == ref.base_loss.beta == 0.9999
    # CB base with beta 0.9999, computed by hand
    e = [(1 - 0.9999**n) / (1 - 0.9999) for n in COUNTS]
    a = [1 / v for v in e]
    a = [3 * v / sum(a) for v in a]
    z, y, x, w = _tensors()
    paper(z, y, x, w)
    cb_softmax = sum(a[t] * -math.log(_softmax(r)[t]) for r, t in zip(LOGITS, Y)) / 2
    assert paper.last_terms["base"].item() == pytest.approx(cb_softmax, rel=1e-5)
    ref(z, y, x, w)
    bce = []
    for r, t in zip(LOGITS, Y):
        p = _softmax(r)
        bce += [a[t] * -(math.log(pj) if j == t else math.log(1 - pj)) for j, pj in enumerate(p)]
    assert ref.last_terms["base"].item() == pytest.approx(sum(bce) / 6, rel=1e-5)


def test_reference_sums_paper_averages_over_batch():
    z, y, x, w = _tensors()
    y2, x2 = y.repeat(3), x.repeat(3, 1)
    for variant, factor in [("paper", 1.0), ("reference", 3.0)]:
        loss = create_loss("iwb", class_counts=COUNTS, lam=LAM, variant=variant)
        one = loss.divergence_term(x, w, y).item()
        assert loss.divergence_term(x2, w, y2).item() == pytest.approx(factor * one, rel=1e-5)


@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_gradient_reaches_classifier_weight(variant):
    torch.manual_seed(0)
    fc = torch.nn.Linear(4, 3)
    feats = torch.randn(5, 4)
    targets = torch.tensor([0, 1, 2, 0, 1])
    loss = create_loss("iwb", class_counts=COUNTS, variant=variant)
    assert loss.needs_features
    loss.divergence_term(feats, fc.weight, targets).backward()
    assert fc.weight.grad is not None and torch.isfinite(fc.weight.grad).all()
    assert fc.weight.grad.abs().sum() > 0
    fc.zero_grad()
    loss(fc(feats), targets, feats, fc.weight).backward()
    assert fc.weight.grad.abs().sum() > 0 and fc.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_detach_target_keeps_gradient_through_norms_only(variant):
    z, y, x, w = _tensors(requires_grad=True)
    loss = IWBLoss(COUNTS, lam=LAM, detach_target=True, variant=variant)
    loss.divergence_term(x, w, y).backward()
    # with P fixed, q = softmax(|W|), p_i = softmax(P_i):
    #   paper     d/d|W|_j mean_i KL(q || p_i) = mean_i q_j (log q_j - log p_ij - KL(q || p_i))
    #   reference d/d|W|_j sum_i KL(p_i || q)  = sum_i (q_j - p_ij)
    # and d|W|_j / dW_j = W_j / |W_j|
    d_norm = [0.0, 0.0, 0.0]
    for p_row in P["vector"]:
        sp = _softmax(p_row)
        kl = sum(q * (math.log(q) - math.log(p)) for q, p in zip(Q, sp))
        for j in range(3):
            if variant == "paper":
                d_norm[j] += Q[j] * (math.log(Q[j]) - math.log(sp[j]) - kl) / 2
            else:
                d_norm[j] += Q[j] - sp[j]
    expect = [[d_norm[j] * wj / math.hypot(*W[j]) for wj in W[j]] for j in range(3)]
    assert w.grad.flatten().tolist() == pytest.approx(sum(expect, []), abs=1e-6)


def test_iwb_input_errors():
    loss = create_loss("iwb", class_counts=COUNTS)
    z, y, x, w = _tensors()
    with pytest.raises(ValueError, match=r"iwb: weight must have shape \(3, D\)"):
        loss(z, y, x, w[:2])
    with pytest.raises(ValueError, match=r"iwb: features must have shape \(2, 2\)"):
        loss(z, y, torch.zeros(2, 5), w)
    with pytest.raises(ValueError, match="iwb: forward needs the pooled features"):
        loss(z, y, None, w)
    with pytest.raises(ValueError, match="iwb: forward needs the pooled features"):
        loss(z, y)
    # (B, D, 1, 1) pooled maps are flattened
    loss(z, y, x[:, :, None, None], w)
