"""Input conversion and shape checks shared by the evaluation modules (private)."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import numpy as np
import torch


def as_float64(x: Any, name: str) -> torch.Tensor:
    """A detached float64 CPU copy of ``x`` (tensor, ndarray or nested list)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        kind = type(x).__name__
        raise TypeError(
            f"{name} must be a tensor, an array or a list of numbers, got {kind}"
        ) from exc


def as_counts(counts: Any, name: str = "class_counts") -> torch.Tensor:
    """1-D float64 tensor of non-negative per-class counts."""
    c = as_float64(counts, name)
    if c.dim() != 1 or c.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(c.shape)}")
    if not torch.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"{name} must be finite and >= 0, got {c.tolist()}")
    return c


def counts_to_list(c: torch.Tensor) -> list:
    """Counts as plain Python numbers: ints when they are whole, floats otherwise."""
    if torch.equal(c, c.round()):
        return [int(v) for v in c.tolist()]
    return [float(v) for v in c.tolist()]


CHUNK_ROWS = 4096  # rows converted to float64 at a time, to bound memory on iNaturalist-size logits


def check_logits_targets(logits: Any, targets: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    """Validate the pair: ``logits`` as an (N, C) floating tensor (its device and dtype kept),
    ``targets`` as an (N,) int64 CPU tensor in [0, C)."""
    if isinstance(logits, torch.Tensor):
        z = logits.detach()
    else:
        z = as_float64(logits, "logits")
    if not z.is_floating_point():
        z = z.to(torch.float64)
    if isinstance(targets, torch.Tensor):
        y = targets.detach().cpu()
    else:
        y = torch.as_tensor(np.asarray(targets))
    if z.dim() != 2:
        raise ValueError(f"logits must be 2-D (N, C), got shape {tuple(z.shape)}")
    if y.dim() != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(
            f"targets shape {tuple(y.shape)} does not match logits shape {tuple(z.shape)}: "
            f"expected targets of shape ({z.shape[0]},)"
        )
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(
            f"logits must hold at least one sample and one class, got shape {tuple(z.shape)}"
        )
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError("targets must be integer class indices")
    y = y.to(torch.int64)
    if (y < 0).any() or (y >= z.shape[1]).any():
        raise ValueError(
            f"targets must lie in [0, {z.shape[1]}) for logits shape {tuple(z.shape)}, "
            f"got min {int(y.min())} and max {int(y.max())}"
        )
    return z, y


def row_chunks(
    z: torch.Tensor, y: torch.Tensor, rows: int = CHUNK_ROWS
) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """``(logits, targets)`` blocks of at most ``rows`` rows, logits as float64 on CPU."""
    for start in range(0, z.shape[0], rows):
        yield z[start : start + rows].to(device="cpu", dtype=torch.float64), y[start : start + rows]
