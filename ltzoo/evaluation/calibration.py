"""Post-hoc calibration and prior correction of logits.

- Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML'17, Sec. 4.2):
  one scalar ``T > 0`` divides every logit; it is fitted by minimising the NLL on held-out
  (validation) logits and leaves the argmax, hence accuracy, unchanged.
- Logit adjustment for a prior shift (Menon et al., "Long-tail learning via logit adjustment",
  ICLR'21, Eq. 9 with a general target prior): Bayes' rule gives
  ``log p_t(y|x) = log p_s(y|x) + log pi_t(y) - log pi_s(y) + const``, so adding
  ``tau * (log pi_t - log pi_s)`` to the logits deploys a model trained under ``pi_s`` to a
  population with prior ``pi_t``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Tuple

import numpy as np
import torch

from ltzoo.evaluation._common import as_counts, check_logits_targets, row_chunks

__all__ = ["fit_temperature", "apply_temperature", "logit_adjustment_bias", "nll"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def nll(logits: Any, targets: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of ``softmax(logits / temperature)`` at the targets."""
    z, y = check_logits_targets(logits, targets)
    return _nll(z, y, float(temperature))


def _nll(z: torch.Tensor, y: torch.Tensor, t: float) -> float:
    total = 0.0
    for zc, yc in row_chunks(z, y):
        s = zc / t
        total += float((torch.logsumexp(s, dim=1) - s.gather(1, yc[:, None]).squeeze(1)).sum())
    return total / z.shape[0]


def fit_temperature(
    logits: Any,
    targets: Any,
    bounds: Tuple[float, float] = (0.01, 100.0),
    tol: float = 1e-6,
) -> float:
    """Temperature ``T`` minimising the validation NLL of ``softmax(logits / T)`` (Guo et al. ICML'17).

    Deterministic golden-section search on ``log T`` within ``bounds``. The NLL is convex in
    ``1 / T`` (a log-sum-exp minus a linear term), hence unimodal in ``log T``, so the search
    finds the global minimum in the interval. A minimum on a bound (e.g. every validation
    sample already classified correctly, where the NLL keeps falling as ``T -> 0``) is
    returned with a warning.

    Args:
        logits: (N, C) validation logits; targets: (N,) labels.
        bounds: search interval for ``T``, ``0 < low < high``.
        tol: stop when the bracket on ``log T`` is narrower than this.
    """
    z, y = check_logits_targets(logits, targets)
    low, high = float(bounds[0]), float(bounds[1])
    if not 0.0 < low < high:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    a, b = math.log(low), math.log(high)
    f = lambda u: _nll(z, y, math.exp(u))  # noqa: E731
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    lo, hi = math.log(low), math.log(high)
    # the loop never evaluates the interval's ends: compare against them too
    best = min((f((a + b) / 2.0), (a + b) / 2.0), (f(lo), lo), (f(hi), hi))[1]
    t = math.exp(best)
    if min(best - lo, hi - best) <= 2.0 * tol:
        warnings.warn(
            f"fit_temperature: the NLL minimum lies on the search bound T={t:.4g}; widen {bounds=}"
        )
    return t


def apply_temperature(logits: Any, temperature: float) -> Any:
    """``logits / temperature``, same type (tensor or ndarray) as given."""
    t = float(temperature)
    if not t > 0.0 or not math.isfinite(t):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if isinstance(logits, torch.Tensor):
        return logits / t
    return np.asarray(logits) / t


def logit_adjustment_bias(
    train_counts: Any,
    target_prior: Optional[Any] = None,
    tau: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Bias ``tau * (log pi_target - log pi_train)`` (shape (C,)) to add to the logits.

    ``pi_train = n / sum(n)`` from the training counts. ``target_prior`` is the class prior
    of the population the model is deployed to, as probabilities or counts (it is
    normalised); None means uniform, which gives Menon et al.'s post-hoc logit adjustment
    ``-tau * log pi_train`` up to a constant (a constant shift changes no prediction). A
    target prior of 0 gives a bias of ``-inf`` (that class is never predicted). ``tau = 1`` is
    the Bayes correction; other values trade head for tail accuracy.

    >>> logit_adjustment_bias([300, 100]) # uniform target
    tensor([-0.4055,  0.6931])
    """
    counts = as_counts(train_counts, "train_counts")
    if (counts <= 0).any():
        raise ValueError(f"train_counts must all be > 0 (log prior), got {counts.tolist()}")
    log_train = torch.log(counts / counts.sum())
    if target_prior is None:
        log_target = torch.full_like(log_train, -math.log(counts.numel()))
    else:
        p = as_counts(target_prior, "target_prior")
        if p.shape != counts.shape:
            raise ValueError(
                f"target_prior shape {tuple(p.shape)} does not match train_counts shape {tuple(counts.shape)}"
            )
        if p.sum() <= 0:
            raise ValueError("target_prior must have a positive sum")
        log_target = torch.log(p / p.sum())
    return (float(tau) * (log_target - log_train)).to(dtype)
