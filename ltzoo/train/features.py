"""Pooled features of a frozen encoder, extracted once and cached for stage 2.

When stage 2 uses no data augmentation, the encoder's output for an image never changes, so
classifier re-training (cRT, LWS, IWB, ...) can run on the cached (N, D) features instead of
on images: the same result to float tolerance, at a fraction of the cost. Under several
processes each rank extracts its shard and ``gather_for_metrics`` reassembles the whole set
(dropping the samples Accelerate duplicated to even out the last batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable, Optional

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2.functional import horizontal_flip

from ltzoo.train.head_training import train_on_features

# test-time augmentation of the evaluation: none, or the mean of the logits of an image and its mirror
TTA_MODES = ("none", "flip")


@dataclass
class FeatureSet:
    """Cached features and their labels; as a stage-2 training source
    (:class:`ltzoo.methods.spec.TrainingSource`) it trains heads on the features themselves."""

    # (N, D) float32, on the CPU
    features: torch.Tensor
    # (N,) int64
    labels: torch.Tensor
    # cached features leave the whole encoder frozen
    retrain: ClassVar[str] = "classifier"

    def subset_of_classes(self, classes: Iterable[int]) -> "FeatureSet":
        """The samples whose label is in ``classes``."""
        keep = torch.isin(self.labels, torch.as_tensor(list(classes), dtype=self.labels.dtype))
        return FeatureSet(self.features[keep], self.labels[keep])

    def fit_head(
        self, head, params, loss_fn, *, settings, seed: int, after_step=None, after_epoch=None
    ):
        """Train ``params`` of ``head`` on these features (:func:`train_on_features`)."""
        return train_on_features(
            self,
            head,
            params,
            loss_fn,
            settings=settings,
            seed=seed,
            after_step=after_step,
            after_epoch=after_epoch,
        )


@torch.no_grad()
def _gathered_outputs(model, fn, dataset: Dataset, batch_size: int, accelerator, num_workers: int):
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs, labels = [], []
    for images, targets in loader:
        out, targets = fn(images.to(device)).float(), targets.to(device)
        if accelerator is not None:
            out, targets = accelerator.gather_for_metrics((out, targets))
        outputs.append(out.cpu())
        labels.append(targets.cpu())
    model.train(was_training)
    return torch.cat(outputs), torch.cat(labels).long()


def extract_features(
    model,
    dataset: Dataset,
    batch_size: int = 256,
    accelerator=None,
    num_workers: int = 0,
    mirror: bool = False,
) -> FeatureSet:
    """Pooled pre-logit features of every sample of ``dataset``, in dataset order; with ``mirror``,
    those of the horizontally flipped images (for the flip test-time augmentation)."""

    def pooled(images):
        images = horizontal_flip(images) if mirror else images
        return model.forward_head(model.forward_features(images), pre_logits=True)

    return FeatureSet(
        *_gathered_outputs(model, pooled, dataset, batch_size, accelerator, num_workers)
    )


def predict_logits(
    model,
    dataset: Dataset,
    batch_size: int = 256,
    accelerator=None,
    num_workers: int = 0,
    tta: str = "none",
):
    """(logits, targets) of ``model`` over ``dataset``, gathered over processes. ``tta="flip"``: the
    mean of the logits of each image and of its horizontal mirror."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta={tta!r} is not allowed; allowed: {', '.join(TTA_MODES)}")

    def flip_mean(images):
        return (model(images) + model(horizontal_flip(images))) / 2

    return _gathered_outputs(
        model, flip_mean if tta == "flip" else model, dataset, batch_size, accelerator, num_workers
    )


def head_logits(
    head,
    features: FeatureSet,
    batch_size: Optional[int] = 4096,
    mirrored: Optional[FeatureSet] = None,
) -> torch.Tensor:
    """Logits of a head over cached features; given the features of the ``mirrored`` images too,
    the flip test-time augmentation: the mean of the two logits."""
    head.eval()
    with torch.no_grad():
        logits = torch.cat([head(chunk) for chunk in features.features.split(batch_size)]).float()
    return logits if mirrored is None else (logits + head_logits(head, mirrored, batch_size)) / 2
