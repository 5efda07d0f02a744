"""Search spaces: recipe fields given as ranges, ``KEY=KIND:ARGS``.

Kinds (``--param`` on the command line)::

    stage1.weight_decay=loguniform:1e-5:1e-1     log-uniform float (a weight-decay range)
    stage2.method_options.iwb.lam=uniform:0.01:0.3
    stage1.lr=uniform:0.01:0.2:0.01              uniform float on a grid of step 0.01
    stage1.epochs=int:30:90:10                   integer (optional step)
    stage1.batch_size=logint:32:256              integer, log scale
    stage1.sampler=choice:instance_balanced,square_root
                                                 one of the listed values (each parsed as YAML)

Any field of the recipe (``ltzoo.train.config.RunConfig``) can be searched, including the free
form option tables (``stage2.method_options.<method>.<option>``); the key and a value of the
range are checked against the recipe schema before any trial runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import yaml

from ltzoo.errors import ConfigError
from ltzoo.train.config import load_yaml

KINDS = ("uniform", "loguniform", "int", "logint", "choice")
ALIASES = {
    "float": "uniform",
    "log": "loguniform",
    "logfloat": "loguniform",
    "categorical": "choice",
}
USAGE = (
    "expected KEY=KIND:ARGS with KIND one of uniform:LOW:HIGH[:STEP], loguniform:LOW:HIGH, "
    "int:LOW:HIGH[:STEP], logint:LOW:HIGH, choice:A,B,C; e.g. stage1.weight_decay=loguniform:1e-5:1e-1"
)


@dataclass(frozen=True)
class Param:
    """One searched recipe field."""

    key: str
    kind: str
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[float] = None
    choices: Optional[tuple] = None

    def suggest(self, trial) -> Any:
        """The value an Optuna trial proposes for this field."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind in ("int", "logint"):
            return trial.suggest_int(
                self.key,
                int(self.low),
                int(self.high),
                step=int(self.step or 1),
                log=self.kind == "logint",
            )
        return trial.suggest_float(
            self.key, self.low, self.high, step=self.step, log=self.kind == "loguniform"
        )

    def probe_values(self) -> List[Any]:
        """Values that must fit the recipe schema (the ends of the range, every choice)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind in ("int", "logint"):
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def spec(self) -> str:
        """The ``KEY=KIND:ARGS`` text this parameter was parsed from (normalised)."""
        if self.kind == "choice":
            return f"{self.key}=choice:" + ",".join(yaml_text(c) for c in self.choices)
        parts = [self.kind, repr(self.low), repr(self.high)] + (
            [repr(self.step)] if self.step else []
        )
        return f"{self.key}=" + ":".join(parts)


def yaml_text(value: Any) -> str:
    """``value`` as YAML flow text that reads back as the same value (``1e-05`` -> ``1.0e-05``)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _scalar(text: str) -> Any:
    """A choice value: YAML, except that ``1e-5`` is the number PyYAML would read as a string."""
    value = load_yaml(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _number(spec: str, text: str, integer: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--param {spec!r}: {text!r} is not a number; {USAGE}") from None
    if not math.isfinite(value) or (integer and not value.is_integer()):
        raise ConfigError(
            f"--param {spec!r}: {text!r} is not allowed; expected a finite {'integer' if integer else 'number'}"
        )
    return value


def parse_param(spec: str) -> Param:
    """``"stage1.weight_decay=loguniform:1e-5:1e-1"`` -> :class:`Param` (raises ``ConfigError``)."""
    if "=" not in spec:
        raise ConfigError(f"--param {spec!r} is not allowed: {USAGE}")
    key, dist = (part.strip() for part in spec.split("=", 1))
    kind, _, args = dist.partition(":")
    kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if not key or kind not in KINDS:
        raise ConfigError(
            f"--param {spec!r}: kind {kind!r} is not allowed; allowed: {', '.join(KINDS)}. {USAGE}"
        )
    if kind == "choice":
        choices = tuple(_scalar(c.strip()) for c in args.split(",") if c.strip())
        if not choices:
            raise ConfigError(
                f"--param {spec!r}: choice needs at least one value, e.g. {key}=choice:a,b"
            )
        return Param(key, kind, choices=choices)
    values = args.split(":")
    integer = kind in ("int", "logint")
    if len(values) not in (2, 3) or (len(values) == 3 and kind in ("loguniform", "logint")):
        raise ConfigError(
            f"--param {spec!r}: {kind} takes LOW:HIGH{'' if 'log' in kind else '[:STEP]'}; {USAGE}"
        )
    low, high = (_number(spec, v, integer) for v in values[:2])
    step = _number(spec, values[2], integer) if len(values) == 3 else None
    if not low < high:
        raise ConfigError(f"--param {spec!r}: LOW={low:g} must be < HIGH={high:g}")
    if kind.startswith("log") and low <= 0:
        raise ConfigError(
            f"--param {spec!r}: {kind} needs LOW > 0, got {low:g}; use uniform for ranges that include 0"
        )
    if step is not None and step <= 0:
        raise ConfigError(f"--param {spec!r}: STEP must be > 0, got {step:g}")
    return Param(key, kind, low, high, step)


class SearchSpace:
    """The searched fields of a recipe; ``overrides(values)`` turns a trial's values into ``--set`` items."""

    def __init__(self, params: Sequence[Param]):
        keys = [p.key for p in params]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ConfigError(f"--param given twice for {', '.join(duplicated)}")
        self.params = list(params)

    @classmethod
    def parse(cls, specs: Sequence[str]) -> "SearchSpace":
        return cls([parse_param(s) for s in specs])

    def __len__(self) -> int:
        return len(self.params)

    @property
    def keys(self) -> List[str]:
        return [p.key for p in self.params]

    def suggest(self, trial) -> Dict[str, Any]:
        return {p.key: p.suggest(trial) for p in self.params}

    @staticmethod
    def overrides(values: Dict[str, Any]) -> List[str]:
        return [f"{key}={yaml_text(value)}" for key, value in values.items()]

    def specs(self) -> List[str]:
        return [p.spec() for p in self.params]

    def check(self, config_path=None, base_overrides: Sequence[str] = ()) -> None:
        """Every key and both ends of every range must fit the recipe (raises ``ConfigError``)."""
        from ltzoo.train.config import load_config
        from ltzoo.train.stage2 import check_stage2_config

        for param in self.params:
            for value in param.probe_values():
                try:
                    cfg = load_config(
                        config_path, list(base_overrides) + self.overrides({param.key: value})
                    )
                    check_stage2_config(cfg.stage2)
                except (ConfigError, KeyError, ValueError) as error:
                    raise ConfigError(f"--param {param.spec()}: {error}") from None
