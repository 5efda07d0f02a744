"""Stage 2 on images, with part of the encoder re-trained (Kang et al., "Decoupling Representation and
Classifier for Long-Tailed Recognition", ICLR'20, Table 1: re-train the classifier "C", the last
block and the classifier "LB+C", or everything "B+C"; there freezing the encoder is best).

``stage2.retrain``:

* ``classifier`` (default): only the method's head parameters; the encoder stays frozen, in eval
  mode, bitwise untouched. Without ``stage2.augment`` this runs on cached features (the fast path
  of :mod:`ltzoo.train.head_training`); with it, on augmented images here.
* ``last_block``: also the encoder's last stage (``feature_info[-1]["module"]``: ``layer3`` of the
  CIFAR ResNets, ``layer4`` of timm's ResNets) and whatever the backbone has after it;
* ``all``: every encoder parameter.

Each method keeps its own head, sampler, loss and schedule: its ``fit`` receives an
:class:`ImageSource` in place of the cached training features, and its :meth:`ImageSource.fit_head`
fine-tunes a copy of the stage-1 model (the encoder
parameters at ``lr * stage2.encoder_lr_scale``; Kang et al.'s "B+C (0.1x lr)" is ``0.1``). Frozen
modules stay in eval mode, so their batch-norm statistics do not move. The stage runs in one
process on the accelerator's device (every process computes the same result).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import DataLoader, Dataset

from ltzoo.atomic import save_safetensors_atomic
from ltzoo.data.samplers import create_sampler
from ltzoo.run_folder import HEADS_DIR
from ltzoo.train.features import FeatureSet, extract_features
from ltzoo.train.head_training import head_step
from ltzoo.train.optimizer import make_optimizer
from ltzoo.train.schedule import build_scheduler
from ltzoo.train.scoring import evaluate_heads
from ltzoo.train.stage2 import Resolved, fit_stage2

RETRAIN = ("classifier", "last_block", "all")


def uses_images(stage2_cfg) -> bool:
    """Whether stage 2 must run on images (anything but the classifier on un-augmented features)."""
    return stage2_cfg.retrain != "classifier" or bool(stage2_cfg.augment)


def encoder_modules(backbone: torch.nn.Module, retrain: str) -> List[torch.nn.Module]:
    """The backbone modules ``retrain`` unfreezes: none, the last stage and what follows it, or all."""
    if retrain not in RETRAIN:
        raise ValueError(
            f"stage2.retrain={retrain!r} is not allowed; allowed: {', '.join(RETRAIN)}"
        )
    if retrain == "classifier":
        return []
    if retrain == "all":
        return [backbone]
    info = getattr(backbone, "feature_info", None)
    try:
        path = info[-1]["module"]
    except (TypeError, IndexError, KeyError):
        raise ValueError(
            f"stage2.retrain=last_block needs a backbone that names its stages in feature_info; "
            f"{type(backbone).__name__} does not. Use retrain=classifier or all"
        ) from None
    modules = [backbone.get_submodule(path)]
    top = path.split(".")[0]
    names = [name for name, _ in backbone.named_children()]
    modules += [getattr(backbone, name) for name in names[names.index(top) + 1 :]]
    return modules


class _Labelled(Dataset):
    """A dataset restricted to some indices, keeping ``targets`` (what the samplers read)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)
        targets = torch.as_tensor(list(dataset.targets))
        self.targets = targets[torch.as_tensor(self.indices, dtype=torch.long)].tolist()

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]


class ImageSource:
    """The training data of a stage-2 method when stage 2 runs on images.

    ``model`` is the stage-1 model (never modified); ``dataset`` the training images (augmented or
    not); ``features`` the cached stage-1 features of the same samples (for methods that do not
    train, NCM). After :meth:`fit_head`, ``trained_model`` is the fine-tuned copy (its backbone on
    ``device``; its head, the one returned, on the CPU like every stage-2 head).
    """

    def __init__(
        self,
        model,
        dataset,
        retrain: str = "classifier",
        *,
        features: Optional[FeatureSet] = None,
        encoder_lr_scale: float = 1.0,
        device=None,
        num_workers: int = 0,
    ):
        if retrain not in RETRAIN:
            raise ValueError(
                f"stage2.retrain={retrain!r} is not allowed; allowed: {', '.join(RETRAIN)}"
            )
        if not encoder_lr_scale >= 0:
            raise ValueError(f"stage2.encoder_lr_scale={encoder_lr_scale!r} must be >= 0")
        self.model, self.dataset, self.retrain = model, dataset, retrain
        self._features, self.encoder_lr_scale = features, float(encoder_lr_scale)
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        self.num_workers = num_workers
        self.trained_model = None

    @property
    def labels(self) -> torch.Tensor:
        return torch.as_tensor(list(self.dataset.targets), dtype=torch.long)

    @property
    def features(self) -> torch.Tensor:
        if self._features is None:
            self._features = extract_features(self.model, self.dataset)
        return self._features.features

    def subset_of_classes(self, classes) -> "ImageSource":
        keep = torch.isin(self.labels, torch.as_tensor(list(classes), dtype=torch.long))
        idx = torch.nonzero(keep).flatten().tolist()
        sub = (
            None
            if self._features is None
            else FeatureSet(self._features.features[idx], self._features.labels[idx])
        )
        return ImageSource(
            self.model,
            _Labelled(self.dataset, idx),
            self.retrain,
            features=sub,
            encoder_lr_scale=self.encoder_lr_scale,
            device=self.device,
            num_workers=self.num_workers,
        )

    def fit_head(
        self, head, params, loss_fn, *, settings, seed: int, after_step=None, after_epoch=None
    ):
        """``train_head``'s schedule on images, with ``retrain``'s encoder modules unfrozen."""
        model = copy.deepcopy(self.model).to(self.device)
        model.replace_head(head.to(self.device))
        flags = [(p, p.requires_grad) for p in model.parameters()]
        model.requires_grad_(False)
        head_params = list(params)
        for p in head_params:
            p.requires_grad_(True)
        trainable = encoder_modules(model.backbone, self.retrain)
        encoder_params = [p for m in trainable for p in m.parameters()]
        for p in encoder_params:
            p.requires_grad_(True)
        groups = [{"params": head_params}]
        if encoder_params:
            groups.append({"params": encoder_params, "lr": settings.lr * self.encoder_lr_scale})
        optimizer = make_optimizer(groups, settings)
        index_sampler = create_sampler(
            settings.sampler, self.labels.numpy(), seed=seed, **settings.sampler_kwargs
        )
        loader = DataLoader(
            self.dataset,
            batch_size=settings.batch_size,
            sampler=index_sampler,
            num_workers=self.num_workers,
        )
        steps_per_epoch = math.ceil(len(index_sampler) / settings.batch_size)
        scheduler = build_scheduler(
            optimizer, settings.schedule_spec(), steps_per_epoch, settings.lr
        )
        all_params = head_params + encoder_params
        for epoch in range(settings.epochs):
            index_sampler.set_epoch(epoch)
            if hasattr(loss_fn, "set_epoch"):
                loss_fn.set_epoch(epoch)
            self._set_modes(model, trainable)
            for images, targets in loader:
                images, targets = images.to(self.device), targets.to(self.device)
                with torch.set_grad_enabled(bool(encoder_params)):
                    x = model.forward_head(model.forward_features(images), pre_logits=True)
                head_step(
                    model.head,
                    x,
                    targets,
                    loss_fn,
                    optimizer,
                    all_params,
                    settings.grad_clip,
                    after_step,
                )
                scheduler.step()
            if after_epoch is not None:
                after_epoch(model.head)
        for p, flag in flags:
            p.requires_grad_(flag)
        self.trained_model = model.eval()
        # heads are scored on cached (CPU) features; the backbone stays put
        return model.head.cpu().eval()

    @staticmethod
    def _set_modes(model, trainable) -> None:
        model.eval()
        model.head.train()
        for module in trainable:
            module.train()


def fit_stage2_on_images(
    method: str,
    model,
    splits: Dict[str, Any],
    val: Optional[FeatureSet],
    train_features: Optional[FeatureSet],
    class_counts,
    cfg,
    accelerator=None,
    resolved: Optional[Resolved] = None,
):
    """Stage-2 ``method`` on images per ``cfg.stage2.retrain`` / ``augment``, with its effective
    settings ``resolved`` (resolved here when not given).

    Returns ``(head, encoder_model)``: ``encoder_model`` is the method's own fine-tuned copy of the
    model (head in place) when encoder layers were re-trained, else None (the head fits the shared,
    untouched stage-1 encoder).
    """
    s2 = cfg.stage2
    dataset = splits["train"] if s2.augment else splits["train_plain"]
    device = accelerator.device if accelerator is not None else None
    source = ImageSource(
        model,
        dataset,
        s2.retrain,
        features=train_features,
        encoder_lr_scale=s2.encoder_lr_scale,
        device=device,
        num_workers=cfg.data.num_workers,
    )
    head = fit_stage2(
        method, model.head, source, val, class_counts, s2, cfg.seed, resolved=resolved
    )
    if s2.retrain == "classifier" or source.trained_model is None:
        return head, None
    return head, source.trained_model


def evaluate_own_encoders(
    results: Dict[str, Any],
    heads: Dict[str, Any],
    encoders: Dict[str, Any],
    splits: Dict[str, Any],
    class_counts,
    cfg,
    accelerator=None,
) -> None:
    """Re-score the methods that have their own fine-tuned encoder on features of that encoder
    (``results["methods"]`` / ``["validation"]``, in place), and save each such encoder's backbone
    as ``heads/<method>.encoder.safetensors`` in the run folder (main process)."""
    from pathlib import Path

    for method, encoder in encoders.items():
        for key, split in (("methods", "test"), ("validation", "val")):
            if results.get(key) is None or splits.get(split) is None:
                continue
            feats = extract_features(encoder, splits[split], accelerator=accelerator)
            results[key][method] = evaluate_heads(
                {method: heads[method]}, feats, class_counts, cfg
            )[method]
            results[key][method]["retrain"] = cfg.stage2.retrain
        if accelerator is None or accelerator.is_main_process:
            path = Path(cfg.output_dir) / HEADS_DIR / f"{method}.encoder.safetensors"
            save_safetensors_atomic(encoder.backbone.state_dict(), path)


__all__ = [
    "ImageSource",
    "encoder_modules",
    "evaluate_own_encoders",
    "fit_stage2_on_images",
    "uses_images",
]
