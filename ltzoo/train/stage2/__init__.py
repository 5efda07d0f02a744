"""Stage 2 of decoupled training: classifier methods on a frozen encoder's cached features.

One file per method, each registering a :class:`~ltzoo.train.stage2.spec.Stage2Method` (its
defaults, options and fit) in ``ltzoo.registry.STAGE2``; :func:`ltzoo.train.stage2.spec.resolve`
turns a recipe's ``stage2`` section into each method's effective settings.
"""

from ltzoo.registry import STAGE2
from ltzoo.train.stage2 import crt, experts, iwb, lws, ncm, tau, wd_maxnorm  # noqa: F401  (registers the methods)
from ltzoo.train.stage2.spec import Resolved, check_unused_settings, resolve


def fit_stage2(name, stage1_head, train, val, class_counts, cfg, seed, resolved: Resolved = None):
    """Run stage-2 method ``name`` with its effective settings under ``cfg`` (the ``stage2`` section)."""
    resolved = resolved or resolve(name, cfg)
    return STAGE2.get(name).fit(
        stage1_head, train, val, class_counts, resolved.settings, seed, **resolved.options
    )


def check_stage2_config(cfg) -> dict:
    """Every method resolves (unknown methods, options or bad settings fail before any training
    starts); returns ``{method: Resolved}``."""
    from ltzoo.errors import ConfigError

    resolved = {name: resolve(name, cfg) for name in cfg.methods}
    for name in cfg.method_options:
        if name not in resolved:
            resolve(name, cfg)  # options of a method not run are still checked
    check_unused_settings(cfg)
    if "experts" in cfg.methods and cfg.retrain != "classifier":
        raise ConfigError(
            f"stage2.retrain={cfg.retrain!r} is not allowed with the experts method (two classifiers on different "
            "classes would fine-tune one encoder two ways); allowed with experts: classifier"
        )
    if cfg.deploy is not None and cfg.deploy not in ["stage1", *cfg.methods]:
        raise ConfigError(
            f"stage2.deploy={cfg.deploy!r} is not allowed; allowed: stage1, {', '.join(cfg.methods)}"
        )
    return resolved


__all__ = ["check_stage2_config", "fit_stage2"]
