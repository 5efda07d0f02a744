"""Estimated minutes of a plan row: the images it pushes through its network, divided by its
backbone's stage-1 training throughput on the device, plus a start-up cost.

Stage-1 training throughput, img/s (forward + backward + SGD step, per-epoch bookkeeping included):

- CPU, the project's 2-core AMD EPYC (no native bf16, so fp32; 2 torch threads; the fast path
  ``data.loader=device``, ``engine.channels_last=true``): ``resnet32`` 293, the fastest stage-1 epoch
  of the CIFAR-10-LT IF 100 CE run (12,386 images in 42.3 s; its median epoch, 53 s, was slower
  because other work shared the CPU at times). ``resnet34_cifar`` 55 and ``resnet32_x8`` 19: 293
  divided by how much slower one training step of batch 64 (fp32, random 32x32 inputs) ran than
  ResNet-32's on the same CPU at the same moment, 5.3x and 15.4x (best of two rounds, measured while
  another training shared the CPU: rough figures).
  Other CPU settings scale the training share by ``CPU_SPEEDUP`` (features and evaluation run in
  fp32), from ``benchmarks/engine_precision.py`` (CIFAR-100-LT stage 1, ``data.loader=device``, idle
  2-core CPU, 2 epochs, on a host whose CPU computes bf16 natively): 313 img/s fp32, 402 fp32
  channels-last, 566 bf16, 587 bf16 channels-last. On a CPU without native bf16, bf16 is emulated
  and no faster. Augmented training (AutoAugment, Cutout, CutMix or mixup) costs ``AUGMENT_COST``
  times a plain image: the strongest-recipe run's fastest epoch (10,827 images, AutoAugment + Cutout
  + CutMix, 42.0 s) against the CE run's above, per image. The machine's speed drifts from day to
  day: read the estimates as +-50 %.
- GPU, one H100/H200-class GPU (bf16, ``torch.compile``, data on the device): ESTIMATES, not
  measured yet. ``GPU_IMG_PER_S`` is the one constant to replace with ``benchmarks/throughput.py``'s
  figures after a GPU session. ResNet-32's is set by the project's target (the 200 + 10 epoch IWB
  recipe in under 2 minutes on one H100), the others by their multiply-adds per image.

Images only read forward (stage-2 features, stage-2 epochs on images, the test set) count a third
of a training image: a fp32 stage-2 row on the shared CPU encoder read 10,847 + 10,000 images in
about 15 s (20 s in all), 3.3 times the training rate. On a slower day (the CIFAR-10-LT run's), the
bf16 stage-2 rows with the flip evaluation (10,847 + 2 x 10,000 images) took about 60 s each where
this model says 35: the estimates are a guide, not a measurement. A row that trains stage 1 and
stopped part-way is charged only the epochs left after its newest checkpoint. Several rows sharing
one GPU each run slower than these figures say; the estimates are for one row at a time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Optional

CPU_IMG_PER_S: Dict[str, float] = {"resnet32": 293.0, "resnet34_cifar": 55.0, "resnet32_x8": 19.0}
GPU_IMG_PER_S: Dict[str, float] = {  # estimate: replace with measured figures
    "resnet32": 20000.0,
    "resnet34_cifar": 6000.0,
    "resnet32_x8": 3000.0,
}
# (mixed_precision, engine.channels_last) -> stage-1 speed relative to fp32 channels-last on the CPU
CPU_SPEEDUP: Dict[tuple, float] = {
    ("no", False): 313 / 402,
    ("no", True): 1.0,
    ("bf16", False): 566 / 402,
    ("bf16", True): 587 / 402,
}
AUGMENT_COST = (42.0 / 10827) / (42.3 / 12386)  # 1.14
IMG_PER_S = {"cpu": CPU_IMG_PER_S, "gpu": GPU_IMG_PER_S}
# imports and model (``import ltzoo.cli`` alone: 6 s on the CPU); on the GPU also torch.compile
# (estimate)
STARTUP_S = {"cpu": 10.0, "gpu": 60.0}
FORWARD_SHARE = 1 / 3  # of a training image
# images per class before the long-tail profile, classes, test images
DATASETS = {"cifar100_lt": (500, 100, 10000), "cifar10_lt": (5000, 10, 10000)}


def training_images(cfg) -> Optional[int]:
    """Training images of a recipe (its long-tail profile, less its validation split); None for a
    dataset this table does not know."""
    from ltzoo.data.longtail import make_profile

    if cfg.data.dataset not in DATASETS:
        return None
    n_max, classes, _ = DATASETS[cfg.data.dataset]
    counts = make_profile(cfg.data.profile, n_max, classes, cfg.data.imbalance)
    total = int(counts.sum())
    if (
        cfg.data.val_source == "leftover"
    ):  # a class with too few left-out images gives its shortfall
        per_class = cfg.data.val_per_class
        return total - int(sum(max(0, min(per_class - (n_max - n), n - 1)) for n in counts))
    return total - int(round(total * cfg.data.val_fraction))


def augmented(cfg) -> bool:
    """Does stage 1 augment beyond crop and flip (AutoAugment, Cutout, CutMix or mixup)?"""
    options = cfg.data.transform_kwargs or {}
    return bool(
        options.get("autoaugment") or options.get("cutout") or cfg.stage1.cutmix or cfg.stage1.mixup
    )


def done_fraction(run_dir: Path, cfg, n_train: int) -> float:
    """How much of stage 1 the newest checkpoint in ``run_dir`` holds (0 without one)."""
    steps = [
        int(p.name.split("_")[1])
        for p in (Path(run_dir) / "checkpoints").glob("step_*")
        if p.name.split("_")[1].isdigit()
    ]
    total = cfg.stage1.epochs * math.ceil(n_train / cfg.stage1.batch_size)
    return min(1.0, max(steps) / total) if steps and total else 0.0


def row_seconds(
    cfg, backbone: str, device: str, *, from_encoder: bool, trials: int = 1, done: float = 0.0
) -> Optional[float]:
    """Estimated seconds of one row on ``device`` ("cpu" or "gpu"); None when unknown.

    ``cfg`` is the row's resolved recipe; ``from_encoder``: stage 1 is loaded, not trained;
    ``trials``: full runs a search makes; ``done``: the fraction of stage 1 already checkpointed.
    """
    n_train = training_images(cfg)
    rate = IMG_PER_S[device].get(backbone)
    if n_train is None or rate is None:
        return None
    if cfg.data.val_source == "leftover":
        n_val = DATASETS[cfg.data.dataset][1] * cfg.data.val_per_class
    else:
        n_val = int(round(n_train / (1 - cfg.data.val_fraction))) - n_train
    n_test = DATASETS[cfg.data.dataset][2] * (2 if cfg.eval.tta == "flip" else 1)
    trained = 0 if from_encoder else cfg.stage1.epochs * n_train * (1.0 - done)
    forward = n_test  # the final evaluation; the stage-2 heads are scored on the same test features
    s2 = cfg.stage2
    if s2.methods:
        forward += n_train + n_val  # the features stage 2 fits on
        epochs = 10 if s2.epochs is None else s2.epochs
        if s2.retrain != "classifier":
            trained += epochs * n_train
        elif s2.augment:
            forward += epochs * n_train
    if device == "cpu":  # training only: features and evaluation run in fp32 whatever the setting
        trained /= CPU_SPEEDUP.get((cfg.mixed_precision, cfg.engine.channels_last), 1.0)
        if augmented(cfg):
            trained *= AUGMENT_COST
    work = trained + FORWARD_SHARE * forward
    return trials * work / rate + STARTUP_S[device]


def minutes(seconds: Optional[float]) -> str:
    return (
        "?"
        if seconds is None
        else f"{seconds / 60:.0f}"
        if seconds >= 600
        else f"{seconds / 60:.1f}"
    )
