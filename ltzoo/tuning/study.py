"""Studies in a real database, and the best trial written back as a recipe.

A study lives in Optuna's RDB storage: any SQLAlchemy URL (``sqlite:///runs/tune/x/study.db`` by
default, ``postgresql+psycopg://user@host:5432/db`` for workers on several machines; psycopg 3 comes
with ``ltzoo[tune]``). Every worker opens the
same study by name (``load_if_exists``), so a crashed search resumes where it stopped and several
processes search one study. Each trial heart-beats; a trial whose worker died (no heartbeat for
``2 x heartbeat`` seconds) is marked failed and queued again with the same parameters
(``RetryHeartbeatStaleTrialCallback``), and its training resumes from the trial folder's last
checkpoint.

The sampler is TPE (Bergstra et al., NeurIPS'11), as in weight-decay searches for long-tailed recognition.
"""

from __future__ import annotations

import os
import random
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

from ltzoo.errors import ConfigError

#: study attributes every worker must agree on (a worker with another space would corrupt the study)
SHARED_ATTRS = ("objective", "method", "space")


def default_storage(output_dir: str) -> str:
    return f"sqlite:///{Path(output_dir) / 'study.db'}"


#: Python module of a database driver -> what ``pip install`` brings it
DRIVER_PACKAGES = {
    "psycopg": "pip install 'psycopg[binary]' (or: pip install 'ltzoo[tune]')",
    "psycopg2": "pip install psycopg2-binary, or write the URL as postgresql+psycopg://... "
    "(psycopg 3: pip install 'ltzoo[tune]')",
    "pymysql": "pip install PyMySQL",
    "MySQLdb": "pip install mysqlclient",
}


def display_url(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL: shown as given (it holds no password field)
        return url


def check_storage_url(url: str) -> None:
    """Refuse, in one line naming the URL and what to do, a storage URL that is not a database URL,
    names a database SQLAlchemy does not know, or needs a driver that is not installed."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    example = "e.g. sqlite:///study.db or postgresql+psycopg://user@host:5432/db"
    if "://" not in url:
        raise ConfigError(f"--storage {url!r} is not a database URL; {example}")
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"--storage {url!r} is not a database URL; {example}") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise ConfigError(
            f"--storage {shown!r}: SQLAlchemy knows no database {parsed.drivername!r}; {example}"
        ) from None
    load = getattr(dialect, "import_dbapi", None) or dialect.dbapi  # SQLAlchemy 2 / 1.4
    try:
        load()
    except ImportError as error:
        module = (error.name or parsed.drivername).split(".")[0]
        install = DRIVER_PACKAGES.get(module, f"pip install {module}")
        raise ConfigError(
            f"--storage {shown!r}: its database driver {module!r} is not installed; {install}"
        ) from None


def open_storage(url: str, heartbeat: Optional[int] = 60):
    """Optuna ``RDBStorage`` for ``url``; SQLite waits for locks instead of failing at once."""
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    check_storage_url(url)
    engine_kwargs: Dict[str, Any] = {}
    if url.startswith("sqlite:"):
        engine_kwargs["connect_args"] = {"timeout": 120}
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs: Dict[str, Any] = {}
    try:
        with (
            warnings.catch_warnings()
        ):  # heartbeats are "experimental" in Optuna since 2.8; we rely on them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = (
                RetryHeartbeatStaleTrialCallback(max_retry=3, inherit_intermediate_values=True)
                if heartbeat
                else None
            )
            if heartbeat:
                kwargs = dict(
                    heartbeat_interval=int(heartbeat),
                    grace_period=2 * int(heartbeat),
                    heartbeat_stale_trial_callback=retry,
                )
            return _with_retries(lambda: RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs))
    except sqlalchemy.exc.OperationalError as error:  # no server, no such database, refused login
        reason = " ".join(str(error.orig or error).split())
        raise ConfigError(f"--storage {display_url(url)!r} cannot be opened: {reason}") from None
    except optuna.exceptions.StorageInternalError as error:
        raise ConfigError(f"--storage {display_url(url)!r} cannot be opened: {error}") from None


def _with_retries(make, attempts: int = 6):
    """``make()``, retried when workers starting together race to create the schema of a new
    database (one wins; the others see a duplicate ``alembic_version`` row, a table or type that
    PostgreSQL created meanwhile, or a locked SQLite file)."""
    import sqlalchemy.exc

    raced = (
        sqlalchemy.exc.IntegrityError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.ProgrammingError,
    )
    for attempt in range(attempts):
        try:
            return make()
        except raced:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)


def open_study(
    storage, study_name: str, attrs: Optional[Dict[str, Any]] = None, sampler=None, pruner=None
):
    """Create or join study ``study_name``; ``attrs`` are recorded by the first worker and checked
    against the study's by every later one."""
    import optuna

    study = _with_retries(
        lambda: optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    )
    if attrs:
        existing = study.user_attrs
        for key in SHARED_ATTRS:
            if key in attrs and key in existing and existing[key] != attrs[key]:
                raise ConfigError(
                    f"study {study_name!r} was started with {key}={existing[key]!r}, this worker asks for "
                    f"{key}={attrs[key]!r}; join it with the same settings or pick another --study-name"
                )
        for key, value in attrs.items():
            if key not in existing:
                study.set_user_attr(key, value)
    return study


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def finished_trials(study):
    """Trials that count towards ``--trials``: complete or pruned."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def best_summary(study) -> Optional[Dict[str, Any]]:
    """Value, params, trial number and run folder of the best complete trial (None if none yet)."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    return {
        "study": study.study_name,
        "objective": study.user_attrs.get("objective"),
        "method": study.user_attrs.get("method"),
        "value": best.value,
        "params": dict(best.params),
        "trial": best.number,
        "run_dir": best.user_attrs.get("run_dir"),
        "validation": best.user_attrs.get("validation"),
        "finished_trials": len(finished_trials(study)),
    }


def write_best(study, output_dir: str, recipe: Optional[Dict[str, Any]] = None) -> Optional[Path]:
    """``best.yaml`` (a recipe ``ltzoo train --config`` accepts: the study's base recipe with the
    best trial's values, ``output_dir`` = ``<study dir>/best``) and ``best.json``; None without a
    complete trial."""
    import yaml

    from ltzoo.atomic import write_json_atomic, write_text_atomic
    from ltzoo.train.config import RunConfig, apply_overrides, from_dict, to_dict
    from ltzoo.tuning.space import SearchSpace

    summary = best_summary(study)
    if summary is None:
        return None
    recipe = recipe if recipe is not None else study.user_attrs.get("recipe")
    if recipe is None:
        raise ConfigError(
            f"study {study.study_name!r} has no base recipe recorded; pass --config to write best.yaml"
        )
    out = Path(output_dir)
    values = apply_overrides(
        recipe, SearchSpace.overrides(summary["params"]) + [f"output_dir={out / 'best'}"]
    )
    cfg = from_dict(RunConfig, values)  # validates: what is written loads
    header = (
        f"# best trial {summary['trial']} of study {study.study_name!r}: {summary['objective']} = "
        f"{summary['value']:.4f} on the validation split ({summary['method']})\n"
        f"# tuned: {', '.join(f'{k}={v!r}' for k, v in summary['params'].items())}\n"
    )
    path = write_text_atomic(
        out / "best.yaml", header + yaml.safe_dump(to_dict(cfg), sort_keys=False)
    )
    write_json_atomic(out / "best.json", summary)
    return path
