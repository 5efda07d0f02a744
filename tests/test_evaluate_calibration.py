"""Temperature scaling and logit adjustment of ltzoo.evaluation."""

import math

import numpy as np
import pytest
import torch

from ltzoo.evaluation import (
    apply_temperature,
    evaluate_logits,
    fit_temperature,
    logit_adjustment_bias,
    nll,
)


def _calibrated(n=20000, c=10, seed=0):
    """Logits ``z`` and labels drawn from ``softmax(z)``: ``z`` is calibrated, so its best T is 1."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * 3.0
    y = torch.multinomial(torch.softmax(z, 1), 1, generator=g).squeeze(1)
    return z, y


@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_fit_temperature_recovers_known_temperature(t_true):
    z, y = _calibrated()
    t = fit_temperature(z * t_true, y)  # logits a model with temperature t_true would output
    assert t == pytest.approx(t_true, rel=0.05)
    # it is the minimiser of the empirical NLL
    f = nll(z * t_true, y, t)
    assert f <= nll(z * t_true, y, t * 1.01) and f <= nll(z * t_true, y, t * 0.99)
    assert fit_temperature(z * t_true, y) == t  # deterministic


def test_fit_temperature_leaves_accuracy_and_lowers_nll():
    z, y = _calibrated(n=4000, seed=1)
    over = (z * 3.0).float()
    t = fit_temperature(over, y)
    before = evaluate_logits(over, y, [100] * 10)
    after = evaluate_logits(apply_temperature(over, t), y, [100] * 10)
    assert after["top1"] == before["top1"]
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]


def test_fit_temperature_bound_warns():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])  # all right: NLL falls as T -> 0
    with pytest.warns(UserWarning, match="bound"):
        t = fit_temperature(logits, torch.tensor([0, 1]), bounds=(0.1, 10.0))
    assert t == pytest.approx(0.1)


def test_apply_temperature_types():
    z = torch.tensor([[2.0, 4.0]])
    assert torch.equal(apply_temperature(z, 2.0), torch.tensor([[1.0, 2.0]]))
    out = apply_temperature(z.numpy(), 2.0)
    assert isinstance(out, np.ndarray) and np.allclose(out, [[1.0, 2.0]])
    with pytest.raises(ValueError):
        apply_temperature(z, 0.0)


def test_logit_adjustment_bias_known_priors():
    # uniform target: log(1/2) - log(3/4), log(1/2) - log(1/4)
    b = logit_adjustment_bias([300, 100])
    assert b.dtype == torch.float32
    assert b.tolist() == pytest.approx([math.log(2 / 3), math.log(2.0)])
    # target prior (counts are normalised): [1/4, 3/4] vs train [3/4, 1/4]
    assert logit_adjustment_bias([300, 100], [1, 3]).tolist() == pytest.approx(
        [-math.log(3), math.log(3)]
    )
    assert logit_adjustment_bias([300, 100], [0.25, 0.75], tau=0.5).tolist() == pytest.approx(
        [-0.5 * math.log(3), 0.5 * math.log(3)]
    )
    assert logit_adjustment_bias([300, 100], [300, 100]).abs().max() == 0  # no shift, no bias


def test_logit_adjustment_is_bayes_prior_shift():
    g = torch.Generator().manual_seed(0)
    log_lik = torch.randn(50, 4, generator=g, dtype=torch.float64)  # log p(x | y)
    train = torch.tensor([500.0, 100.0, 20.0, 5.0])
    target = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    logits = log_lik + torch.log(train / train.sum())  # posterior logits under the training prior
    adjusted = logits + logit_adjustment_bias(train, target, dtype=torch.float64)
    assert torch.allclose(torch.softmax(adjusted, 1), torch.softmax(log_lik + torch.log(target), 1))


def test_logit_adjustment_errors():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        logit_adjustment_bias([300, 100], [1, 1, 1])
    with pytest.raises(ValueError, match="> 0"):
        logit_adjustment_bias([300, 0])
