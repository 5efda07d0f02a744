"""What a long-tail method is: its name, paper, deployed head, stage-2 defaults, options, check and fit.

One :class:`MethodSpec` per file of :mod:`ltzoo.methods`, registered in ``ltzoo.registry.METHODS``.
The zoo reads ``head``, ``head_kwargs``, ``description`` and ``paper``; the training engine
(:mod:`ltzoo.train.stage2`) reads the rest. A method's ``fit`` trains through the
:class:`TrainingSource` it is given, so this package imports heads, losses and evaluation only,
never the training engine: the zoo imports without the training code.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Protocol, Union

import torch

from ltzoo.errors import ConfigError


class TrainingSource(Protocol):
    """The training data a method's ``fit`` receives: the cached stage-1 features
    (``ltzoo.train.head_training.FeatureSource``) or the training images
    (``ltzoo.train.image_training.ImageSource``), which also trains."""

    # what stage 2 re-trains of the encoder: "classifier", "last_block" or "all"
    retrain: str

    @property
    def features(self) -> torch.Tensor: ...

    @property
    def labels(self) -> torch.Tensor: ...

    def subset_of_classes(self, classes: Iterable[int]) -> "TrainingSource": ...

    def fit_head(
        self, head, params, loss_fn, *, settings, seed: int, after_step=None, after_epoch=None
    ):
        """Train ``params`` of ``head`` with ``loss_fn`` under ``settings`` (sampler, optimizer,
        schedule); ``after_step(head)`` / ``after_epoch(head)`` run after every step / epoch."""


@dataclass(frozen=True)
class MethodSpec:
    """A long-tail method.

    ``fit(stage1_head, train, val, class_counts, settings, seed, **options) -> head`` trains the
    deployed head on the :class:`TrainingSource` ``train``; ``val`` holds the validation features
    (``features``, ``labels``) or is ``None``. ``settings`` is the resolved
    ``ltzoo.train.config.TrainSettings`` (``None`` when ``trains`` is false); ``options`` holds
    every key of ``options`` (its defaults here, overridden by the recipe's
    ``stage2.method_options.<name>``). An option whose default is ``None`` and whose name is a
    ``stage2`` key (``tau_grid``) takes that key's value. A method without ``fit`` (``ce``) is
    stage 1 alone.
    """

    name: str
    # the head plugin the zoo's <backbone>_<name> models deploy, and its keyword arguments
    head: str
    description: str
    paper: str
    fit: Optional[Callable[..., Any]] = None
    trains: bool = True
    # the training settings this method runs with unless the recipe says otherwise
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # the settings that make the method what its paper describes (cRT's class-balanced sampler):
    # a shared stage2.<key> that would change one is refused; stage2.method_options.<name> may
    defining: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    # validates the resolved options before any training (raises ValueError/TypeError naming the option)
    check: Optional[Callable[[Dict[str, Any]], None]] = None
    # the loss it trains with, for the records: a name, or a function of the resolved options
    loss: Union[None, str, Callable[[Dict[str, Any]], str]] = None
    head_kwargs: Dict[str, Any] = field(default_factory=dict)
    # whether the zoo registers a <backbone>_<name> entrypoint for every backbone
    in_zoo: bool = True


def check_choices(
    options: Mapping[str, Any], allowed: Mapping[str, Iterable[str]], prefix: str = ""
) -> None:
    """``ValueError`` naming the first option whose value is not among ``allowed[option]``."""
    for key, choices in allowed.items():
        if options[key] not in choices:
            raise ValueError(
                f"{prefix}{key}={options[key]!r} is not allowed; allowed: {', '.join(choices)}"
            )


def selection_split(val, train, select_on: str, method: str):
    """``(features, split name)`` a method chooses on: ``val`` when there is one; the training
    features only when ``select_on == "train"`` (with a warning); otherwise ``ConfigError``."""
    if val is not None and len(val.labels):
        return val, "val"
    if select_on != "train":
        raise ConfigError(
            f"stage 2 method {method!r} chooses on a validation split and there is none "
            "(data.val_fraction=0); set data.val_fraction > 0, or stage2.select_on=train to "
            "choose on the training features"
        )
    warnings.warn(
        f"{method}: no validation split; choosing on the training features (stage2.select_on=train)",
        UserWarning,
        stacklevel=2,
    )
    return train, "train"


__all__ = ["MethodSpec", "TrainingSource", "check_choices", "selection_split"]


def stage1_classifier_fine_tuning(loss: str) -> Dict[str, Any]:
    """The ``fit``, ``loss``, ``options`` and ``check`` of a method that fine-tunes the stage-1 linear
    classifier on the frozen encoder with the registered loss ``loss``, whose options are the
    method's options (IWB, LAS)."""
    from ltzoo.heads import head_from_stage1
    from ltzoo.losses import create_loss, loss_defaults

    def fit(stage1_head, train, val, class_counts, settings, seed, **loss_options):
        head = head_from_stage1("linear", stage1_head)
        loss_fn = create_loss(loss, class_counts=class_counts, **loss_options)
        return train.fit_head(head, head.parameters(), loss_fn, settings=settings, seed=seed)

    return dict(
        fit=fit,
        loss=loss,
        options=loss_defaults(loss),
        check=lambda options: create_loss(loss, class_counts=[2, 1], **options),
    )
