"""Stage 2 of decoupled training: classifier methods on a frozen encoder's cached features.

One file per method, each registered in ``ltzoo.registry.STAGE2`` as
``fit(stage1_head, train, val, class_counts, cfg, seed, **options) -> head``.
"""

from ltzoo.registry import STAGE2
from ltzoo.train.stage2 import crt, experts, iwb, lws, ncm, tau, wd_maxnorm  # noqa: F401  (registers the methods)


def fit_stage2(name, stage1_head, train, val, class_counts, cfg, seed):
    """Run stage-2 method ``name`` with its options from ``cfg.method_options[name]``."""
    options = dict(cfg.method_options.get(name, {}))
    return STAGE2.get(name)(stage1_head, train, val, class_counts, cfg, seed, **options)


def check_stage2_config(cfg) -> None:
    """Unknown methods or method options fail before any training starts."""
    from ltzoo.train.config import ConfigError

    for name in cfg.methods:
        STAGE2.get(name)
    for name, options in cfg.method_options.items():
        allowed = getattr(STAGE2.get(name), "options", ())
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ConfigError(
                f"stage2.method_options.{name}: {', '.join(unknown)} not allowed; "
                f"options of {name!r}: {', '.join(allowed) or '(none)'}"
            )
    if "experts" in cfg.methods and cfg.retrain != "classifier":
        raise ConfigError(
            f"stage2.retrain={cfg.retrain!r} is not allowed with the experts method (two classifiers on different "
            "classes would fine-tune one encoder two ways); allowed with experts: classifier"
        )
    if cfg.deploy is not None and cfg.deploy not in ["stage1", *cfg.methods]:
        raise ConfigError(f"stage2.deploy={cfg.deploy!r} is not allowed; allowed: stage1, {', '.join(cfg.methods)}")


__all__ = ["check_stage2_config", "fit_stage2"]
