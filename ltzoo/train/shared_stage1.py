"""``stage1.from_run``: stage 2 on the stage-1 model of an earlier run, instead of training stage 1.

Decoupled training (Kang et al., "Decoupling Representation and Classifier for Long-Tailed
Recognition", ICLR'20, Sec. 4) trains the encoder once; cRT, tau-norm, LWS, NCM, WD+MaxNorm and
IWB are all fitted on that frozen encoder. ``stage1.from_run: RUN_DIR`` loads RUN_DIR's stage-1
model (its backbone, or ``heads/shared.encoder.safetensors`` when a method there re-trained
encoder layers, and ``heads/stage1.safetensors``) so a new recipe's stage-2 methods share it:
one 200-epoch stage 1, any number of stage-2 runs, each with its own run folder and results.

The new run must see the same training set, else the cached features and class counts would
not be the ones the encoder was trained on: ``data.dataset / imbalance / profile / seed /
val_fraction / subset_rule`` must equal RUN_DIR's (checked before any data is read), and so must the
training class counts (checked once the data is built). The run's ``config.yaml`` records how its
encoder was really trained: RUN_DIR's ``stage1`` and ``model`` sections, with ``from_run``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from ltzoo.errors import ConfigError, InputError
from ltzoo.hub import load_pretrained
from ltzoo.run_folder import CONFIG, HEADS_TABLE, check_run_dir, read_json, read_results
from ltzoo.train.assemble import build_model
from ltzoo.train.config import RunConfig, load_config
from ltzoo.train.reload import encoder_file, load_heads

SAME_DATA_FIELDS = (
    "dataset",
    "imbalance",
    "profile",
    "seed",
    "val_fraction",
    "subset_rule",
    "val_source",
    "val_per_class",
)


def source_config(cfg: RunConfig) -> RunConfig:
    """The earlier run's resolved recipe; fails naming the folder when it is not a run folder."""
    source = Path(cfg.stage1.from_run)
    try:
        check_run_dir(source)
    except InputError as error:
        raise ConfigError(f"stage1.from_run={str(source)!r} is not allowed: {error}") from None
    heads = read_json(source / HEADS_TABLE)
    if "stage1" not in heads:
        raise ConfigError(
            f"stage1.from_run={str(source)!r} is not allowed: its heads/heads.json has no stage1 head "
            f"(it holds {', '.join(heads)})"
        )
    return load_config(source / CONFIG)


def adopt_source_stage1(cfg: RunConfig) -> RunConfig:
    """``cfg`` with the source run's ``stage1`` and ``model`` sections (``from_run`` kept); checks
    that both runs train on the same data. Prints what this recipe said differently."""
    source = source_config(cfg)
    mismatched = [
        f"data.{name}={getattr(cfg.data, name)!r} (the run has {getattr(source.data, name)!r})"
        for name in SAME_DATA_FIELDS
        if getattr(cfg.data, name) != getattr(source.data, name)
    ]
    if mismatched:
        raise ConfigError(
            f"stage1.from_run={cfg.stage1.from_run!r}: its encoder was trained on other data: "
            f"{'; '.join(mismatched)}. Set these as in that run, or train stage 1 anew (stage1.from_run=null)"
        )
    notes: List[str] = []
    if cfg.model.model_dump() != source.model.model_dump():
        notes.append(f"model {cfg.model.model_dump()} -> {source.model.model_dump()}")
    ignored = {
        k: v
        for k, v in cfg.stage1.model_dump().items()
        if k != "from_run" and v != getattr(source.stage1, k)
    }
    if ignored:
        notes.append(f"this recipe's stage1 settings {ignored} are not used")
    if notes:
        logging.getLogger(__name__).info(
            f"ltzoo: stage 1 comes from {cfg.stage1.from_run}: " + "; ".join(notes)
        )
    stage1 = source.stage1.model_copy(update={"from_run": cfg.stage1.from_run})
    return cfg.model_copy(update={"stage1": stage1, "model": source.model})


def load_stage1_model(cfg: RunConfig, train_set, in_chans: int, accelerator):
    """A fresh model (raw calibration) with the source run's stage-1 backbone and head, on the
    accelerator's device; the training class counts must equal the source run's."""
    import safetensors.torch

    source = Path(cfg.stage1.from_run)
    counts = read_results(source)["class_counts"]
    if [int(c) for c in train_set.class_counts] != [int(c) for c in counts]:
        raise ConfigError(
            f"stage1.from_run={str(source)!r}: its training class counts {counts[:5]}... differ from this "
            f"run's {[int(c) for c in train_set.class_counts][:5]}... (data.root={cfg.data.root!r}); "
            "both runs must read the same training set"
        )
    model = build_model(cfg, train_set.num_classes, in_chans=in_chans)
    encoder = encoder_file(source, "stage1")
    if encoder is not None:
        model.backbone.load_state_dict(safetensors.torch.load_file(str(encoder)))
    else:
        model.backbone.load_state_dict(load_pretrained(source).backbone.state_dict())
    model.replace_head(load_heads(source, model.num_features)["stage1"])
    return model.to(accelerator.device)


__all__ = ["SAME_DATA_FIELDS", "adopt_source_stage1", "load_stage1_model", "source_config"]
