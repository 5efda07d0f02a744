"""Stage 1: joint training of encoder and classifier on Accelerate, resumable at any step.

- Schedule: SGD with momentum (optionally Nesterov); the rate follows ``stage1.schedule`` (cosine
  to 0 by default, multistep, constant; optional linear warm-up), built by
  :func:`ltzoo.train.schedule.build_scheduler` and stepped once per training step. Its position is
  the global step alone, so it is the same whatever the number of processes, stays out of
  ``prepare``, and a resumed run replays it to the checkpoint's step. The sampler and the loss
  (LDAM-DRW's switch) see the epoch, never a step count.
- Batch: ``stage1.batch_size`` is global; each process takes
  ``batch_size / (num_processes * engine.grad_accumulation)``.
- Checkpoints (``engine.checkpoint_every_steps`` and every epoch end) are Accelerate
  ``save_state`` folders sealed by :class:`~ltzoo.train.checkpoint.CheckpointManager`; resuming
  restores model, optimizer, RNG states and the position in the epoch (the sampler's order is
  a function of (seed, epoch), and the batches already seen are skipped without being loaded),
  so an interrupted run ends with the same weights as an uninterrupted one.
- Speed options: ``engine.channels_last``, ``engine.fused_optimizer`` (one fused SGD kernel),
  ``engine.compile`` (``torch.compile`` through Accelerate's inductor backend; ``engine.compile_mode:
  reduce-overhead`` records the step as CUDA graphs), ``mixed_precision``.
- Faults: a non-finite loss stops the run naming the step and the last good checkpoint (or is
  skipped with ``engine.on_nonfinite: skip``); a checkpoint is never written from non-finite
  weights; SIGTERM saves a checkpoint and raises :class:`TrainingInterrupted`. Both are watched
  by :class:`_StepWatch`, which reads them back from the device every few steps, not every step.
- Step: :func:`train_step` is one optimizer step (forward, loss, backward, clipping, update), the
  loop's body in the manner of timm's ``train_one_epoch``.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ltzoo.data.mixing import BatchMixer
from ltzoo.errors import ConfigError, InputError
from ltzoo.run_folder import check_checkpoint, trajectory_settings
from ltzoo.train.checkpoint import CheckpointManager, settings_of, verify
from ltzoo.train.config import RunConfig, to_dict
from ltzoo.train.epoch_log import EpochLog
from ltzoo.train.optimizer import make_optimizer
from ltzoo.train.schedule import advance, build_scheduler


class NonFiniteLossError(InputError, FloatingPointError):
    """The training loss became NaN or infinite: the recipe's rates diverge (one line from the CLI)."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM arrived; a checkpoint was saved (``self.checkpoint``) and the run can be resumed."""

    def __init__(self, checkpoint: Path):
        super().__init__(
            f"stopped by SIGTERM; checkpoint saved at {checkpoint}; continue with --resume"
        )
        self.checkpoint = checkpoint


class Progress:
    """Where training is; saved in every checkpoint (``register_for_checkpointing``)."""

    def __init__(self):
        self.epoch, self.step_in_epoch, self.global_step, self.skipped_steps = 0, 0, 0, 0
        self.epoch_totals = [0.0, 0.0, 0.0]  # loss sum, correct, seen: this epoch so far

    def state_dict(self):
        return dict(vars(self))

    def load_state_dict(self, state):
        self.__dict__.update(state)


def per_process_batch_size(cfg: RunConfig, num_processes: int) -> int:
    parts = num_processes * cfg.engine.grad_accumulation
    if cfg.stage1.batch_size % parts:
        raise ConfigError(
            f"stage1.batch_size={cfg.stage1.batch_size} (global) is not divisible by num_processes x "
            f"engine.grad_accumulation = {num_processes} x {cfg.engine.grad_accumulation}; choose a multiple of {parts}"
        )
    return cfg.stage1.batch_size // parts


def build_sampler(cfg: RunConfig, train_set):
    from ltzoo.data.samplers import create_sampler

    sampler_kwargs = dict(cfg.stage1.sampler_kwargs)
    if cfg.stage1.sampler == "progressive":
        sampler_kwargs.setdefault("num_epochs", cfg.stage1.epochs)
    return create_sampler(cfg.stage1.sampler, train_set.targets, seed=cfg.seed, **sampler_kwargs)


def build_device_loader(cfg: RunConfig, train_set, accelerator):
    """``data.loader: device``: the uint8 training set on the accelerator, augmented there."""
    from ltzoo.data.device_loader import DeviceBatchLoader, device_augment

    if getattr(train_set, "data", None) is None:
        raise ConfigError(
            f"data.loader=device needs an in-memory dataset (digits_lt, cifar10_lt, cifar100_lt, "
            f"fashion_mnist_lt); {cfg.data.dataset} is read from files: use data.loader=torch"
        )
    try:
        augment = device_augment(cfg.data.transform, cfg.data.transform_kwargs)
    except ValueError as error:
        raise ConfigError(
            f"data.loader=device with data.transform={cfg.data.transform!r}, data.transform_kwargs="
            f"{cfg.data.transform_kwargs!r}: {error}"
        ) from None
    return DeviceBatchLoader(
        train_set.data,
        train_set.targets,
        build_sampler(cfg, train_set),
        per_process_batch_size(cfg, accelerator.num_processes),
        accelerator.device,
        train_set.mean,
        train_set.std,
        seed=cfg.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        channels_last=cfg.engine.channels_last,
        **augment,
    )


def build_jpeg_loader(cfg: RunConfig, train_set, accelerator):
    """``data.loader: jpeg``: file datasets (ImageNet-LT, iNat, folders) decoded in batches on the
    accelerator (nvjpeg on CUDA) and augmented there with the ImageNet training recipe."""
    from ltzoo.data.jpeg_loader import JpegBatchLoader, jpeg_augment

    if getattr(train_set, "samples", None) is None:
        raise ConfigError(
            f"data.loader=jpeg needs a dataset read from image files (imagenet_lt, inat2018, folder_lt); "
            f"{cfg.data.dataset} is in memory: use data.loader=device"
        )
    honoured = (
        "img_size",
        "crop_pct",
        "color_jitter",
    )  # the imagenet preset's options the JPEG loader follows
    unsupported = sorted(set(cfg.data.transform_kwargs) - set(honoured))
    if unsupported:
        raise ConfigError(
            f"data.loader=jpeg does not do data.transform_kwargs {unsupported}; allowed: {', '.join(honoured)} "
            "(or data.loader=torch)"
        )
    try:
        jpeg_augment(cfg.data.transform, True, cfg.data.transform_kwargs)
    except ValueError as error:
        raise ConfigError(
            f"data.loader=jpeg with data.transform={cfg.data.transform!r}: {error}"
        ) from None
    return JpegBatchLoader(
        train_set,
        build_sampler(cfg, train_set),
        per_process_batch_size(cfg, accelerator.num_processes),
        accelerator.device,
        train_set.mean,
        train_set.std,
        train=True,
        seed=cfg.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        channels_last=cfg.engine.channels_last,
        preset=cfg.data.transform,
        **cfg.data.transform_kwargs,
    )


def build_train_loader(cfg: RunConfig, train_set, num_processes: int = 1) -> DataLoader:
    sampler = build_sampler(cfg, train_set)
    return DataLoader(
        train_set,
        batch_size=per_process_batch_size(cfg, num_processes),
        sampler=sampler,
        num_workers=cfg.data.num_workers,
        drop_last=False,
        persistent_workers=cfg.data.num_workers > 0,
    )


HOST_SYNC_EVERY = (
    16  # steps between the host's reads of the non-finite/SIGTERM flags (engine.on_nonfinite=error)
)


class _StepWatch:
    """Non-finite losses and SIGTERM, agreed across processes, with as few host syncs as possible.

    ``engine.on_nonfinite: skip`` must decide before each update, so every step reads the flags
    (one host sync per step). ``error`` only has to stop the run before anything is saved: the
    first non-finite step and its loss are kept on the device, and the flags are read every
    :data:`HOST_SYNC_EVERY` steps, before every checkpoint and at each epoch's end, so on a GPU
    the host can queue the next steps while the device works. The error still names the first
    non-finite step; no checkpoint is written after it (weights are checked again in ``save``).
    """

    def __init__(self, accelerator, skip: bool, steps_per_epoch: int):
        self.accelerator, self.skip, self.steps_per_epoch = accelerator, skip, steps_per_epoch
        self.stop = False
        device = accelerator.device
        self.first_bad = torch.tensor(
            [-1.0, 0.0], dtype=torch.float64, device=device
        )  # (global step, loss)
        self.step = torch.zeros((), dtype=torch.float64, device=device)

    def start_epoch(self, global_step: int) -> None:
        self.step.fill_(global_step)

    def record(self, loss: torch.Tensor, sigterm: bool) -> bool:
        """Note this step's loss; True when it is to be skipped (skip mode, non-finite somewhere)."""
        bad = ~torch.isfinite(loss.detach())
        if self.skip:
            flags = torch.stack([bad, torch.tensor(sigterm, device=loss.device)])
            nonfinite, stop = self.accelerator.reduce(
                flags.float(), "sum"
            ).tolist()  # the step's host sync
            self.stop = stop > 0
            return nonfinite > 0
        self.step += 1
        keep = bad & (self.first_bad[0] < 0)
        self.first_bad = torch.where(
            keep, torch.stack([self.step, loss.detach().double()]), self.first_bad
        )
        return False

    def due(self, global_step: int) -> bool:
        return not self.skip and global_step % HOST_SYNC_EVERY == 0

    def check(self, sigterm: bool, last_good) -> None:
        """Read the flags of every process (one host sync); raise on a non-finite loss."""
        if self.skip:
            return
        mine = torch.cat(
            [
                self.first_bad,
                torch.tensor([float(sigterm)], dtype=torch.float64, device=self.first_bad.device),
            ]
        )
        rows = self.accelerator.gather(mine.unsqueeze(0)).view(-1, 3).tolist()
        self.stop = any(row[2] > 0 for row in rows)
        bad = sorted(row[:2] for row in rows if row[0] >= 0)
        if bad:
            global_step, value = int(bad[0][0]), bad[0][1]
            epoch, step = divmod(global_step - 1, self.steps_per_epoch)
            raise NonFiniteLossError(
                f"stage 1: loss is {value} at epoch {epoch}, step {step} (global step {global_step}); last good "
                f"checkpoint: {last_good or 'none'}; nothing was saved after it. Lower stage1.lr, set "
                "stage1.grad_clip, or set engine.on_nonfinite=skip"
            )


class _SigtermFlag:
    """Turns SIGTERM into a flag checked at step boundaries (main thread only)."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _weights_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train_step(
    model,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss_fn,
    optimizer,
    accelerator,
    engine,
    grad_clip: Optional[float],
    watch: "_StepWatch",
    stop_requested: bool,
    totals: torch.Tensor,
    mixer: Optional[BatchMixer] = None,
    step: int = 0,
) -> bool:
    """One training step: mixing (``mixer``, seeded by the global ``step``), forward under
    autocast, the loss, backward, gradient clipping and the optimizer update, inside
    ``accelerator.accumulate``. Adds the step's loss sum, correct count (against each image's own
    label) and sample count to ``totals`` (on the device). Returns True when the step was skipped:
    a non-finite loss under ``engine.on_nonfinite: skip``, decided by ``watch`` before the update."""
    if engine.compile:
        # a new iteration for CUDA-graph trees (compile_mode=reduce-overhead)
        torch.compiler.cudagraph_mark_step_begin()
    loss_targets = targets
    if mixer is not None:
        images, loss_targets = mixer(images, targets, step)
    if engine.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with accelerator.accumulate(model):
        with accelerator.autocast():
            logits = model(images)
        loss = loss_fn(logits.float(), loss_targets)
        if watch.record(loss, stop_requested):
            optimizer.zero_grad(set_to_none=True)
            return True
        accelerator.backward(loss)
        if grad_clip and accelerator.sync_gradients:
            accelerator.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        totals[0] += loss.detach().double() * len(targets)
        totals[1] += (logits.argmax(1) == targets).sum()
        totals[2] += len(targets)
    return False


def build_configured_loader(cfg: RunConfig, train_set, accelerator):
    """The training loader ``data.loader`` names: ``jpeg``, ``device`` or ``torch``."""
    if cfg.data.loader == "jpeg":
        return build_jpeg_loader(cfg, train_set, accelerator)
    if cfg.data.loader == "device":
        return build_device_loader(cfg, train_set, accelerator)
    return build_train_loader(cfg, train_set, accelerator.num_processes)


def _restart_schedule(optimizer, s1, steps_per_epoch: int, global_step: int):
    """The learning-rate schedule from the recipe's rate, replayed to ``global_step``."""
    for group in optimizer.param_groups:  # a restored optimizer holds the last rate it used
        group["lr"] = group["initial_lr"] = s1.lr
    scheduler = build_scheduler(optimizer, s1.schedule_spec(), steps_per_epoch, s1.lr)
    advance(scheduler, global_step)
    return scheduler


class _Stage1Loop:
    """The state of a stage-1 run between its set-up and its end: what one epoch, one step's
    bookkeeping and a checkpoint need (the model and optimizer as ``accelerator.prepare`` gave them)."""

    def __init__(
        self,
        cfg: RunConfig,
        accelerator,
        model,
        optimizer,
        loader,
        loss_fn,
        progress: Progress,
        checkpoints: CheckpointManager,
        last_good: Optional[Path],
        mixer: Optional[BatchMixer] = None,
    ):
        self.cfg, self.engine, self.accelerator = cfg, cfg.engine, accelerator
        self.mixer = mixer
        self.model, self.optimizer, self.loader, self.loss_fn = model, optimizer, loader, loss_fn
        self.progress, self.checkpoints, self.last_good = progress, checkpoints, last_good
        self.on_device = cfg.data.loader in ("device", "jpeg")
        self.steps_per_epoch = max(1, len(loader))
        self.scheduler = _restart_schedule(
            optimizer, cfg.stage1, self.steps_per_epoch, progress.global_step
        )
        # a progress bar only on a terminal; a log file or a pipe gets one line per epoch instead
        show_bar = cfg.progress and accelerator.is_main_process and sys.stderr.isatty()
        run_dir = Path(cfg.output_dir)
        self.log = EpochLog(run_dir, enabled=accelerator.is_main_process, echo=not show_bar)
        self.log.keep_before(progress.epoch)
        self.bar = tqdm(
            total=cfg.stage1.epochs * self.steps_per_epoch,
            initial=progress.global_step,
            desc="stage 1",
            disable=not show_bar,
        )
        # the rate of the last step run, for the epoch log
        self.lr = optimizer.param_groups[0]["lr"]
        self.watch = _StepWatch(
            accelerator,
            skip=self.engine.on_nonfinite == "skip",
            steps_per_epoch=self.steps_per_epoch,
        )

    def unwrapped_model(self) -> torch.nn.Module:
        """The model without Accelerate's wrappers (DDP, ``torch.compile``)."""
        return self.accelerator.unwrap_model(self.model, keep_torch_compile=False)

    def save(self, totals: Optional[torch.Tensor] = None) -> Path:
        """Checkpoint now, refusing non-finite weights; ``totals``: the epoch's sums so far."""
        progress = self.progress
        if totals is not None:
            # the epoch's sums over all processes, so a mid-epoch resume logs the whole epoch
            progress.epoch_totals = self.accelerator.reduce(
                totals.clone(), reduction="sum"
            ).tolist()
        if not _weights_finite(self.unwrapped_model()):
            raise NonFiniteLossError(
                f"refusing to checkpoint non-finite weights at global step {progress.global_step}"
            )
        return self.checkpoints.save(self.accelerator, progress.global_step, progress.state_dict())

    def epoch_batches(self):
        """This epoch's batches, the ones a resumed epoch already saw skipped without loading."""
        step_in_epoch = self.progress.step_in_epoch
        if self.on_device:
            return self.loader.iterate(skip=step_in_epoch)
        if step_in_epoch:
            return self.accelerator.skip_first_batches(self.loader, step_in_epoch)
        return self.loader

    def train_one_epoch(self, epoch: int, sigterm: "_SigtermFlag") -> torch.Tensor:
        """The steps of ``epoch`` left to run; returns this process's (loss sum, correct, seen)."""
        progress, accelerator = self.progress, self.accelerator
        self.loader.set_epoch(epoch)
        self.loss_fn.set_epoch(epoch)
        if self.mixer is not None:
            self.mixer.set_epoch(epoch)
        self.model.train()
        batches = self.epoch_batches()
        # loss sum, correct, seen: kept on the device, read back only at checkpoints and epoch end
        # this process's share; a mid-epoch resume gives the checkpoint's sums (over all processes) to process 0
        done = progress.epoch_totals if accelerator.is_main_process else [0.0, 0.0, 0.0]
        totals = torch.tensor(done, dtype=torch.float64, device=accelerator.device)
        self.watch.start_epoch(progress.global_step)
        for i, (images, targets) in enumerate(batches, start=progress.step_in_epoch):
            # this step's rate, for the epoch log
            self.lr = self.optimizer.param_groups[0]["lr"]
            skipped = train_step(
                self.model,
                images,
                targets,
                loss_fn=self.loss_fn,
                optimizer=self.optimizer,
                accelerator=accelerator,
                engine=self.engine,
                grad_clip=self.cfg.stage1.grad_clip,
                watch=self.watch,
                stop_requested=sigterm.raised,
                totals=totals,
                mixer=self.mixer,
                step=progress.global_step,
            )
            progress.skipped_steps += int(skipped)
            self.scheduler.step()
            progress.step_in_epoch, progress.global_step = i + 1, progress.global_step + 1
            self.bar.update(1)
            self.after_step(totals, sigterm)
        self.watch.check(sigterm.raised, self.last_good)
        if self.watch.stop:
            raise TrainingInterrupted(self.save(totals))
        return totals

    def after_step(self, totals: torch.Tensor, sigterm: "_SigtermFlag") -> None:
        """The flags' check when due, the step checkpoint when due, and the stop SIGTERM asked for."""
        every = self.engine.checkpoint_every_steps
        checkpoint_due = every and self.progress.global_step % every == 0
        if checkpoint_due or self.watch.due(self.progress.global_step):
            # raises NonFiniteLossError before anything is saved
            self.watch.check(sigterm.raised, self.last_good)
        if checkpoint_due:
            self.last_good = self.save(totals)
        if self.watch.stop:
            raise TrainingInterrupted(self.save(totals))

    def finish_epoch(self, epoch: int, totals: torch.Tensor, epoch_started: float) -> dict:
        """Mark ``epoch`` done, log its statistics (over every process) and checkpoint it."""
        progress, accelerator = self.progress, self.accelerator
        progress.epoch, progress.step_in_epoch, progress.epoch_totals = (
            epoch + 1,
            0,
            [0.0, 0.0, 0.0],
        )
        # loss and accuracy over every process's batches
        totals = accelerator.reduce(totals, reduction="sum")
        stats = dict(
            epoch=epoch,
            loss=float(totals[0] / max(1.0, totals[2])),
            train_acc=float(100 * totals[1] / max(1.0, totals[2])),
            images=int(totals[2]),
            lr=self.lr,
            global_step=progress.global_step,
            skipped_steps=progress.skipped_steps,
            # this process's wall time on the epoch (after a mid-epoch resume: the part it ran)
            epoch_seconds=round(time.perf_counter() - epoch_started, 3),
        )
        self.bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['train_acc']:.1f}")
        self.log.write(stats)
        if self.engine.log_with:
            accelerator.log({k: v for k, v in stats.items() if k != "epoch"}, step=epoch)
        share_main_buffers(accelerator, self.model)
        # (re)written with the epoch marked done, even if this step was just saved
        self.last_good = self.save()
        return stats


def train_stage1(
    cfg: RunConfig,
    accelerator,
    model: torch.nn.Module,
    train_set,
    on_epoch_end: Optional[Callable[[int, dict, torch.nn.Module], None]] = None,
    checkpoint: Optional[Path] = None,
) -> torch.nn.Module:
    """Train ``model`` on ``train_set`` (resuming per ``engine.resume``); returns it unwrapped.

    ``on_epoch_end(epoch, stats, model)`` is called on every process after each epoch (the
    model unwrapped; it may raise to stop training, e.g. ``optuna.TrialPruned``). ``checkpoint``:
    the folder ``engine.resume`` names, already checked by :func:`checked_checkpoint` (as
    :func:`ltzoo.train.run.run` does before writing anything), so it is not hashed again.
    """
    from ltzoo.losses import create_loss

    s1, engine = cfg.stage1, cfg.engine
    loader = build_configured_loader(cfg, train_set, accelerator)
    loss_fn = create_loss(s1.loss, class_counts=train_set.class_counts, **s1.loss_kwargs)
    mixer = (
        BatchMixer(
            len(train_set.class_counts),
            mixup=s1.mixup,
            cutmix=s1.cutmix,
            prob=s1.mixup_prob,
            switch_prob=s1.mixup_switch_prob,
            mode=s1.mixup_mode,
            off_epoch=s1.mixup_off_epoch,
            seed=cfg.seed,
        )
        if s1.mixes
        else None
    )
    if engine.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(
        model.parameters(), s1, fused=True if engine.fused_optimizer else None
    )
    if cfg.data.loader in ("device", "jpeg"):
        # already sharded and on the device: only model and optimizer go through prepare
        model, optimizer = accelerator.prepare(model, optimizer)
    else:
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    progress = Progress()
    accelerator.register_for_checkpointing(progress)
    recipe = to_dict(cfg)
    checkpoints = CheckpointManager(
        Path(cfg.output_dir), keep=engine.keep_checkpoints, settings=trajectory_settings(recipe)
    )
    last_good = _resume(engine.resume, checkpoints, accelerator, recipe, checkpoint)
    loop = _Stage1Loop(
        cfg, accelerator, model, optimizer, loader, loss_fn, progress, checkpoints, last_good, mixer
    )
    with _SigtermFlag() as sigterm:
        for epoch in range(progress.epoch, s1.epochs):
            epoch_started = time.perf_counter()
            totals = loop.train_one_epoch(epoch, sigterm)
            stats = loop.finish_epoch(epoch, totals, epoch_started)
            if on_epoch_end is not None:
                on_epoch_end(epoch, stats, loop.unwrapped_model())
    loop.bar.close()
    return loop.unwrapped_model()


def share_main_buffers(accelerator, model: torch.nn.Module) -> None:
    """Give every process the main process's buffers (BatchNorm's running statistics). DDP copies
    them from the main process at the start of each forward, then each process's own batch updates
    its copy: after the last step they differ, while checkpoints and the run folder save the main
    process's. Without this, the final evaluation, whose test shards every process scores with its
    own model, would not be that of the saved model."""
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast

        for buffer in model.buffers():
            buffer.copy_(broadcast(buffer.clone(), from_process=0))


def checked_checkpoint(resume: str, recipe) -> Path:
    """The checkpoint folder ``engine.resume`` names, if it is complete, written by this ltzoo or an
    older one, and by a run with the same trajectory settings; else ``ConfigError`` saying which."""
    folder = Path(resume)
    problem = verify(folder) if folder.is_dir() else "it does not exist"
    if problem:
        raise ConfigError(f"engine.resume={resume!r} cannot be used: {problem}")
    check_checkpoint(settings_of(folder), recipe, str(folder))
    return folder


def _resume(
    resume: str, checkpoints: CheckpointManager, accelerator, recipe, checked: Optional[Path]
) -> Optional[Path]:
    """Load the checkpoint ``engine.resume`` asks for: none, auto (newest valid) or a path (``checked``
    when the caller checked it); one written with other trajectory settings is refused, naming them."""
    if resume == "none":
        return None
    if resume == "auto":
        folder = checkpoints.latest_valid()
        if folder is None:
            return None
        check_checkpoint(settings_of(folder), recipe, str(folder))
    else:
        folder = checked if checked is not None else checked_checkpoint(resume, recipe)
    accelerator.load_state(str(folder))
    if accelerator.is_main_process:
        logging.getLogger(__name__).info(f"resumed from {folder}")
    return folder
