"""Stage 2 of decoupled training: each listed method (:mod:`ltzoo.methods`) fitted on the frozen
stage-1 encoder, with its effective settings.

A method's *effective* settings are resolved here and nowhere else, by one precedence rule:

    the method's defaults  <  stage2.<key> (when not null)  <  stage2.method_options.<method>.<key>

except that a shared ``stage2.<key>`` may not change a setting that defines a method
(``MethodSpec.defining``: cRT's and LWS's class-balanced sampler); that is refused, naming the
method, and allowed under ``stage2.method_options.<method>``.

Training settings are :class:`~ltzoo.train.config.TrainSettings` keys (epochs, batch_size, lr,
momentum, nesterov, weight_decay, schedule, milestones, gamma, warmup_epochs, warmup_start_lr,
sampler, sampler_kwargs, grad_clip); methods that do not train (NCM, tau-norm) take none of them.
A method's own options (loss options, thresholds, ...) are given in ``method_options`` only. A key
in ``method_options.<method>`` that the method cannot use fails, naming it; a shared ``stage2.<key>``
that none of the listed methods uses is warned about. :func:`resolve` returns what really runs; the
run prints it at start and stores it in ``results.json``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ltzoo.errors import ConfigError
from ltzoo.methods import stage2_methods
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS, unknown_name_message
from ltzoo.train.config import TRAINING_KEYS, Stage2Config, TrainSettings, from_dict

# stage2.deploy: the method with the highest validation top-1
BEST_VAL = "best_val"


@dataclass
class Resolved:
    """Method ``method``'s effective training ``settings`` (``None`` when it does not train),
    ``options`` and the ``loss`` it trains with."""

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


def stage2_spec(name: str) -> MethodSpec:
    """The registered method ``name`` when it has a stage 2 (``ConfigError`` listing those that do)."""
    if name not in stage2_methods():
        raise ConfigError(unknown_name_message("stage-2 method", name, stage2_methods()))
    spec = METHODS.get(name)
    unknown = set(spec.defaults) - set(TRAINING_KEYS)
    if unknown:
        raise ValueError(f"method {name!r}: defaults {sorted(unknown)} are not training settings")
    return spec


def check_defining_settings(spec: MethodSpec, s2: Stage2Config, given: Dict[str, Any]) -> None:
    """A shared ``stage2.<key>`` that would change a setting defining method ``spec`` (cRT's
    class-balanced sampler) is refused, naming the method, key and value; the same value under
    ``stage2.method_options.<method>`` runs, as a deliberate variant of the method."""
    shared = s2.explicit_training()
    for key, value in spec.defining.items():
        if key in shared and shared[key] != value and key not in given:
            raise ConfigError(
                f"stage2.{key}={shared[key]!r} would change method {spec.name!r}, whose {key} is "
                f"{value!r} ({spec.paper}); give it as stage2.method_options.{spec.name}.{key} to run "
                f"{spec.name} that way, or under the method it is meant for"
            )


def _training_settings(spec: MethodSpec, s2: Stage2Config, given: Dict[str, Any]) -> TrainSettings:
    check_defining_settings(spec, s2, given)
    values = {
        **spec.defaults,
        **{k: v for k, v in spec.defining.items() if k in TRAINING_KEYS},
        **s2.explicit_training(),
        **{k: v for k, v in given.items() if k in TRAINING_KEYS},
    }
    try:
        return from_dict(TrainSettings, values)
    except ConfigError as error:
        raise ConfigError(
            f"stage 2 method {spec.name!r} (stage2.* and stage2.method_options.{spec.name}): {error}"
        ) from None


def resolve(name: str, s2: Stage2Config) -> Resolved:
    """Method ``name``'s effective settings under ``s2`` (``ConfigError`` naming a key it cannot use)."""
    spec = stage2_spec(name)
    given = dict(s2.method_options.get(name, {}))
    usable = (set(TRAINING_KEYS) if spec.trains else set()) | set(spec.options)
    unknown = sorted(set(given) - usable)
    if unknown:
        raise ConfigError(
            f"stage2.method_options.{name}: {', '.join(unknown)} not allowed; "
            f"options of {name!r}: {', '.join(sorted(usable)) or '(none)'}"
        )
    settings = _training_settings(spec, s2, given) if spec.trains else None
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
    if explicit and s2.methods and not any(stage2_spec(m).trains for m in s2.methods):
        keys = ", ".join(f"stage2.{k}" for k in explicit)
        warnings.warn(
            f"{keys} not used: none of stage2.methods ({', '.join(s2.methods)}) trains",
            UserWarning,
            stacklevel=2,
        )


def check_stage2_config(cfg: Stage2Config) -> Dict[str, Resolved]:
    """Every method resolves (unknown methods, options or bad settings fail before any training
    starts); returns ``{method: Resolved}``."""
    resolved = {name: resolve(name, cfg) for name in cfg.methods}
    for name in cfg.method_options:
        if name not in resolved:
            # options of a method not run are still checked
            resolve(name, cfg)
    check_unused_settings(cfg)
    if "experts" in cfg.methods and cfg.retrain != "classifier":
        raise ConfigError(
            f"stage2.retrain={cfg.retrain!r} is not allowed with the experts method (two classifiers on different "
            "classes would fine-tune one encoder two ways); allowed with experts: classifier"
        )
    if cfg.deploy is not None and cfg.deploy not in [BEST_VAL, "stage1", *cfg.methods]:
        raise ConfigError(
            f"stage2.deploy={cfg.deploy!r} is not allowed; allowed: stage1, "
            f"{''.join(m + ', ' for m in cfg.methods)}{BEST_VAL}"
        )
    return resolved


def deployed_method(cfg: Stage2Config, validation: Optional[Dict[str, Any]] = None) -> str:
    """The method ``stage2.deploy`` names; with ``best_val``, the one (``stage1`` or a stage-2
    method, in that order, the first on a tie) with the highest top-1 in ``validation`` (the
    validation metrics of ``results.json``). Default: the last stage-2 method, else ``stage1``."""
    if cfg.deploy != BEST_VAL:
        return cfg.deploy or (cfg.methods[-1] if cfg.methods else "stage1")
    if not validation:
        raise ConfigError(
            f"stage2.deploy={BEST_VAL} chooses on the validation split and there is none; "
            "set data.val_source=leftover or data.val_fraction > 0, or name the method"
        )
    candidates = ["stage1", *cfg.methods]
    return max(candidates, key=lambda name: validation[name]["top1"])


def fit_stage2(
    name, stage1_head, train, val, class_counts, cfg: Stage2Config, seed, resolved: Resolved = None
):
    """Run stage-2 method ``name`` on the training source ``train`` (a
    :class:`~ltzoo.train.features.FeatureSet` or an :class:`~ltzoo.train.image_training.ImageSource`)
    with its effective settings under ``cfg`` (the ``stage2`` section)."""
    resolved = resolved or resolve(name, cfg)
    return stage2_spec(name).fit(
        stage1_head, train, val, class_counts, resolved.settings, seed, **resolved.options
    )


__all__ = [
    "Resolved",
    "check_defining_settings",
    "check_stage2_config",
    "check_unused_settings",
    "fit_stage2",
    "resolve",
    "stage2_spec",
]
