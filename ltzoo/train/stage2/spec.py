"""One spec per stage-2 method: its deployed head, its defaults, its options and its fit.

A method's *effective* settings are resolved here and nowhere else, by one precedence rule:

    the method's defaults  <  stage2.<key> (when not null)  <  stage2.method_options.<method>.<key>

Training settings are :class:`~ltzoo.train.config.TrainSettings` keys (epochs, batch_size, lr,
momentum, nesterov, weight_decay, schedule, milestones, gamma, warmup_epochs, warmup_start_lr,
sampler, sampler_kwargs, grad_clip); methods that do not train (NCM, tau-norm) take none of them.
A method's own options (loss options, thresholds, ...) are given in ``method_options`` only. A key
in ``method_options.<method>`` that the method cannot use fails, naming it; a shared ``stage2.<key>``
that none of the listed methods uses is warned about. :func:`resolve` returns what really runs; the run prints it
at start and stores it in ``results.json``.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ltzoo.errors import ConfigError
from ltzoo.registry import STAGE2
from ltzoo.train.config import TRAINING_KEYS, Stage2Config, TrainSettings, from_dict


@dataclass(frozen=True)
class Stage2Method:
    """``fit(stage1_head, train, val, class_counts, settings, seed, **options) -> head``.

    ``settings`` is the resolved :class:`TrainSettings` (``None`` when ``trains`` is false);
    ``options`` holds every key of ``options`` (its defaults here, overridden by the recipe).
    An option whose default is ``None`` and whose name is a ``stage2`` key (``tau_grid``) takes
    that key's value.
    """

    name: str
    fit: Callable[..., Any]
    paper: str
    trains: bool = True
    defaults: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    # validates the resolved options before any training (raises ValueError/TypeError naming the option)
    check: Optional[Callable[[Dict[str, Any]], None]] = None
    # the loss it trains with, for the records: a name, or a function of the resolved options
    loss: Union[None, str, Callable[[Dict[str, Any]], str]] = None


@dataclass
class Resolved:
    method: str
    settings: Optional[TrainSettings]
    options: Dict[str, Any]
    loss: Optional[str]

    def record(self) -> Dict[str, Any]:
        """What really ran, as stored in ``results.json``."""
        return {
            "training": self.settings.model_dump() if self.settings else None,
            "options": dict(self.options),
            "loss": self.loss,
        }


def register(spec: Stage2Method) -> Stage2Method:
    unknown = set(spec.defaults) - set(TRAINING_KEYS)
    if unknown:
        raise ValueError(
            f"stage-2 method {spec.name!r}: defaults {sorted(unknown)} are not training settings"
        )
    return STAGE2.register(spec.name)(spec)


def loss_defaults(name: str, *, exclude=("class_counts",)) -> Dict[str, Any]:
    """The keyword defaults of registered loss ``name`` (so that records show every option)."""
    from ltzoo.registry import LOSSES

    params = inspect.signature(LOSSES.get(name)).parameters
    return {
        k: p.default
        for k, p in params.items()
        if k not in exclude and p.default is not inspect.Parameter.empty
    }


def resolve(name: str, s2: Stage2Config) -> Resolved:
    """Method ``name``'s effective settings under ``s2`` (``ConfigError`` naming a key it cannot use)."""
    spec: Stage2Method = STAGE2.get(name)
    given = dict(s2.method_options.get(name, {}))
    usable = (set(TRAINING_KEYS) if spec.trains else set()) | set(spec.options)
    unknown = sorted(set(given) - usable)
    if unknown:
        raise ConfigError(
            f"stage2.method_options.{name}: {', '.join(unknown)} not allowed; "
            f"options of {name!r}: {', '.join(sorted(usable)) or '(none)'}"
        )
    settings = None
    if spec.trains:
        values = {
            **spec.defaults,
            **s2.explicit_training(),
            **{k: v for k, v in given.items() if k in TRAINING_KEYS},
        }
        try:
            settings = from_dict(TrainSettings, values)
        except ConfigError as error:
            raise ConfigError(
                f"stage 2 method {name!r} (stage2.* and stage2.method_options.{name}): {error}"
            ) from None
    options = {
        k: (getattr(s2, k) if v is None and k in Stage2Config.model_fields else v)
        for k, v in spec.options.items()
    }
    options.update({k: v for k, v in given.items() if k in spec.options})
    if spec.check is not None:
        try:
            spec.check(options)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"stage2.method_options.{name}: {error}") from None
    return Resolved(
        name, settings, options, spec.loss(options) if callable(spec.loss) else spec.loss
    )


def check_unused_settings(s2: Stage2Config) -> None:
    """A ``stage2.<training key>`` set while no listed method trains changes nothing: warn, naming it
    (a shared key may come from an override given to many recipes; a per-method option fails)."""
    explicit = s2.explicit_training()
    if explicit and s2.methods and not any(STAGE2.get(m).trains for m in s2.methods):
        keys = ", ".join(f"stage2.{k}" for k in explicit)
        warnings.warn(
            f"{keys} not used: none of stage2.methods ({', '.join(s2.methods)}) trains",
            UserWarning,
            stacklevel=2,
        )


__all__ = [
    "Resolved",
    "Stage2Method",
    "check_unused_settings",
    "loss_defaults",
    "register",
    "resolve",
]
