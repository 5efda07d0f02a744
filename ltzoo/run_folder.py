"""The run folder: its layout, who may write into it, and what identifies the run in it.

Layout (``output_dir``)::

    config.yaml         the resolved recipe (``ltzoo train --config RUN/config.yaml`` reruns it)
    config.json         timm's config of the deployed model
    model.safetensors   the deployed model (``stage2.deploy``, default: the last stage-2 method)
    heads/NAME.safetensors + heads/heads.json   every method's head on the shared encoder
    heads/NAME.encoder.safetensors + heads/shared.encoder.safetensors   only when a method
                        re-trained encoder layers (stage2.retrain): its backbone, and stage 1's
    results.json        metrics per method, effective settings, class names and counts, the
                        data's digest (data.digest, ltzoo.data.identity), the ltzoo version
    log.csv, log.jsonl  stage 1's per-epoch log
    checkpoints/step_NNNNNNNNN/   sealed stage-1 checkpoints (each records the run's fingerprint)
    calibration.json    what ``ltzoo calibrate`` fitted, and on which split
    ltzoo_run.json      the manifest: the names in the folder that ltzoo wrote

Rule: a run folder has one writer at a time. ``ltzoo train``, ``eval``, ``calibrate``, ``tune
--posthoc`` and ``report`` hold an exclusive lock on the folder (``flock`` on the folder itself, so
nothing is written to take it) for the whole command; the operating system releases it when the
process ends, however it ends. A second writer is refused in one line naming the holder's pid.

A run folder belongs to one run. Training into a folder that already holds files is
refused unless the run resumes (``--resume``; then the folder's recipe must agree with the new
one on every setting that shapes stage 1, see :func:`trajectory_settings`) or starts over
(``--overwrite``). Starting over deletes only what the folder's manifest lists as ltzoo's;
every other file stays. A folder that holds files but no manifest was not made by ltzoo (or by
a version before manifests): ``--overwrite`` refuses it, naming it, and deletes nothing.

This module works on plain dicts and files, so the Hub and report code can read run folders
without the training engine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import yaml

from ltzoo.atomic import write_json_atomic
from ltzoo.errors import ConfigError, InputError
from ltzoo.version import __version__

CONFIG = "config.yaml"
TIMM_CONFIG = "config.json"
MODEL = "model.safetensors"
RESULTS = "results.json"
HEADS_DIR = "heads"
HEADS_TABLE = "heads/heads.json"
SHARED_ENCODER = (
    "shared.encoder.safetensors"  # in heads/, when some method re-trained encoder layers
)
LOG_CSV, LOG_JSONL = "log.csv", "log.jsonl"
CHECKPOINTS = "checkpoints"
CALIBRATION = "calibration.json"
MANIFEST = "ltzoo_run.json"
OWNED = (
    CONFIG,
    TIMM_CONFIG,
    MODEL,
    RESULTS,
    HEADS_DIR,
    LOG_CSV,
    LOG_JSONL,
    CHECKPOINTS,
    CALIBRATION,
    "README.md",
)


def read_epoch_log(run_dir: Union[str, Path]) -> List[Dict[str, Any]]:
    """The rows of a run folder's ``log.jsonl`` (stage 1's per-epoch log), one per non-empty line;
    empty without the file."""
    path = Path(run_dir) / LOG_JSONL
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# settings that do not change what stage 1 computes: how it is run, logged, checkpointed or
# sped up, and everything stage 2 and the final evaluation do (both re-run in full after a resume)
NOT_TRAJECTORY = (
    "output_dir",
    "progress",
    "device",
    "data.num_workers",
    "stage1.from_run",
    "engine.checkpoint_every_steps",
    "engine.keep_checkpoints",
    "engine.resume",
    "engine.log_with",
    "engine.compile",
    "engine.compile_mode",
    "engine.channels_last",
    "engine.fused_optimizer",
)


# stage 1's batch-mixing settings (mixup, CutMix): part of the trajectory only while mixing is on
MIXING = tuple(
    f"stage1.{key}"
    for key in (
        "mixup",
        "cutmix",
        "mixup_prob",
        "mixup_switch_prob",
        "mixup_mode",
        "mixup_off_epoch",
    )
)

# option mappings compared as one setting (a changed option of a loss is one changed setting)
WHOLE = ("kwargs", "transform_kwargs", "loss_kwargs", "sampler_kwargs")


def flatten(tree: Dict[str, Any], prefix: str = "", whole=()) -> Dict[str, Any]:
    """A nested recipe as ``{"section.key": value}``; the mappings under a key named in ``whole``
    stay values (the others are flattened in turn, an empty one disappears)."""
    out: Dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key not in whole:
            out.update(flatten(value, f"{prefix}{key}.", whole))
        else:
            out[f"{prefix}{key}"] = value
    return out


def trajectory_settings(config: Dict[str, Any]) -> Dict[str, Any]:
    """The recipe's settings that shape stage 1 (flat ``section.key`` names): seed, data, model,
    stage 1 and the precision/accumulation of the engine; not ``stage2.*`` or ``eval.*``."""
    flat = flatten(config, whole=WHOLE)
    if not flat.get("stage1.mixup") and not flat.get("stage1.cutmix"):
        # without mixing, its settings shape nothing (and run folders from before they existed
        # resume under the same fingerprint)
        flat = {k: v for k, v in flat.items() if k not in MIXING}
    return {
        k: v
        for k, v in sorted(flat.items())
        if not k.startswith(("stage2.", "eval.")) and k not in NOT_TRAJECTORY
    }


def fingerprint(settings: Dict[str, Any]) -> str:
    """A short digest of :func:`trajectory_settings`' output, stored with every checkpoint."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(recorded: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """``["stage1.epochs: 3 -> 1", ...]`` between two :func:`trajectory_settings`."""
    keys = sorted(set(recorded) | set(current))
    return [
        f"{k}: {recorded.get(k, '(unset)')!r} -> {current.get(k, '(unset)')!r}"
        for k in keys
        if recorded.get(k) != current.get(k)
    ]


REQUIRED = (CONFIG, TIMM_CONFIG, MODEL, RESULTS, HEADS_TABLE)  # what a finished run folder holds


def check_run_dir(run_dir: Union[str, Path]) -> Path:
    """``run_dir`` as a Path if it holds a finished run, else ``InputError`` naming what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder {str(run_dir)!r} does not exist")
    missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise InputError(
            f"run folder {str(run_dir)!r} is missing {', '.join(missing)} "
            f"(a finished run folder holds {', '.join(REQUIRED)})"
        )
    check_version(read_results(run_dir).get(VERSION_KEY), str(run_dir / RESULTS))
    return run_dir


VERSION_KEY = "ltzoo_version"  # in results.json and in every checkpoint's manifest


def _major_minor(version: str, where: str) -> tuple:
    match = re.match(r"(\d+)\.(\d+)", str(version))
    if match is None:
        raise InputError(
            f"{where} records {VERSION_KEY}={version!r}, which is not a version like 0.1.0"
        )
    return int(match[1]), int(match[2])


def check_version(recorded: Optional[str], where: str) -> None:
    """Refuse a file written by a newer ltzoo (by major.minor), naming both versions; files written
    by this or an older ltzoo, or before the version was recorded (``None``), are read."""
    if recorded is not None and _major_minor(recorded, where) > _major_minor(__version__, "ltzoo"):
        raise InputError(
            f"{where} was written by ltzoo {recorded}, newer than this ltzoo {__version__}; "
            f"upgrade ltzoo to {'.'.join(map(str, _major_minor(recorded, where)))} or later to read it"
        )


def read_config(run_dir: Union[str, Path]) -> Dict[str, Any]:
    """The run's ``config.yaml`` as a dict (``InputError`` naming the file if it is unreadable)."""
    path = Path(run_dir) / CONFIG
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path} cannot be read as a run's recipe: {str(error).splitlines()[0]}"
        ) from None
    if not isinstance(values, dict):
        raise InputError(f"{path} is not a run's recipe (expected a mapping of sections)")
    return values


def read_json(path: Union[str, Path], expected: type = dict) -> Any:
    """The JSON in ``path``; ``InputError`` naming the file when it is unreadable, damaged, or not
    the ``expected`` type (a truncated or hand-edited file)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise InputError(
            f"{path} cannot be read as JSON ({str(error).splitlines()[0]}); the file is damaged: "
            "restore it, or train the run again"
        ) from None
    if not isinstance(value, expected):
        raise InputError(
            f"{path} holds a JSON {type(value).__name__}; expected a {expected.__name__}"
        )
    return value


def read_results(run_dir: Union[str, Path]) -> Dict[str, Any]:
    return read_json(Path(run_dir) / RESULTS)


def load_tensors(path: Union[str, Path]) -> Dict[str, Any]:
    """The tensors of the safetensors file ``path``; ``InputError`` naming the file when it is
    truncated or is not a safetensors file."""
    import safetensors.torch
    from safetensors import SafetensorError

    try:
        return safetensors.torch.load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise InputError(
            f"{path} is not a readable safetensors file ({str(error).splitlines()[0]}); the file "
            "is damaged: restore it, or train the run again"
        ) from None


class RunFolderInUse(InputError):
    """Another process holds the run folder's lock."""


_held: Dict[str, int] = {}  # resolved folder -> the open descriptor whose flock this process holds


def _lock_holder(fd: int) -> str:
    """The pid holding a flock on ``fd``'s file, from /proc/locks (Linux), or words saying so."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == inode:
                return f"pid {parts[4]}"
    except OSError:
        pass
    return "another process"


def hold(folder: Union[str, Path], what: str = "output_dir") -> None:
    """Hold ``folder``'s writer lock until :func:`release_all` or the end of the process; refuse
    (:class:`RunFolderInUse`, naming ``what``, the folder and the holder's pid) when another process
    holds it. Creates a missing folder. The other processes of a distributed run (``RANK`` other
    than 0) write through the first one and take no lock."""
    if os.environ.get("RANK", "0") != "0":
        return
    folder = Path(folder)
    key = str(folder.resolve())
    if key in _held:
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        raise RunFolderInUse(
            f"{what}={str(folder)!r} is in use by another ltzoo command ({holder}); wait for it to "
            "finish, or choose another folder"
        ) from None
    _held[key] = fd
    finish_pending_update(folder)


def release_all() -> None:
    """Release every run-folder lock this process holds (the end of a command)."""
    for fd in _held.values():
        os.close(fd)
    _held.clear()


STAGING, COMMIT = ".ltzoo-staging", ".ltzoo-commit"  # a multi-file update in progress


def _roll_forward(run_dir: Path) -> None:
    commit = run_dir / COMMIT
    for path in sorted(commit.iterdir()):
        os.replace(path, run_dir / path.name)
    commit.rmdir()


def finish_pending_update(run_dir: Union[str, Path]) -> None:
    """Complete or undo a multi-file update a killed command left (:func:`replace_together`): a
    committed one is finished, one still being written is removed. The next command that takes
    the folder's lock (:func:`hold`) calls it, so no writer is at work meanwhile."""
    run_dir = Path(run_dir)
    if (run_dir / COMMIT).is_dir():
        _roll_forward(run_dir)
    if (run_dir / STAGING).exists():
        shutil.rmtree(run_dir / STAGING)


def replace_together(run_dir: Union[str, Path], write: Callable[[Path], None]) -> None:
    """Replace several files of ``run_dir`` in one step: ``write(folder)`` writes their new
    versions into a staging folder, whose rename is the switch; then they move into place. Killed
    at any point, the folder is the old state or, once :func:`finish_pending_update` has run, the
    new one, never a mix."""
    run_dir = Path(run_dir)
    hold(run_dir, "run folder")
    staging = run_dir / STAGING
    staging.mkdir()
    write(staging)
    os.replace(staging, run_dir / COMMIT)
    _roll_forward(run_dir)


def owned_names(out: Path) -> Optional[List[str]]:
    """The names the folder's manifest lists as ltzoo's, or ``None`` when it has no manifest."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    manifest = read_json(path)
    owned = manifest.get("owned")
    if not isinstance(owned, list) or not all(isinstance(n, str) for n in owned):
        raise InputError(f"{path}: 'owned' must be a list of file names, not {owned!r}")
    return [name for name in owned if name in OWNED]  # a hand-edited entry never widens it


def write_manifest(out: Path, keep: Sequence[str] = ()) -> None:
    """Record that ltzoo owns the run folder's names, except ``keep``: names that were there
    before ltzoo and are not its own. In a distributed run only the first process writes it."""
    if os.environ.get("RANK", "0") != "0":
        return
    owned = [name for name in OWNED if name not in keep]
    write_json_atomic(out / MANIFEST, {"format": 1, "written_by": __version__, "owned": owned})


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def _start_over(out: Path, present: List[str], owned: Optional[List[str]]) -> None:
    """``--overwrite``: delete the names the manifest lists (refused without one), keep the rest."""
    if owned is None:
        raise ConfigError(
            f"output_dir={str(out)!r} holds files that ltzoo did not write "
            f"({_listing(present)}) and no run manifest ({MANIFEST}); --overwrite deletes only "
            "a run folder's own files: choose a new or empty output_dir"
        )
    for name in owned:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    write_manifest(out, keep=[name for name in present if name not in owned])


def _resume_without_recipe(out: Path, present: List[str]) -> None:
    """``--resume`` where no recipe was recorded: refused when a run's files are there, else a
    fresh start that says so and keeps the folder's other files."""
    ours = [name for name in present if name in OWNED]
    if ours:  # a run's files without its recipe: nothing to check a resume against
        raise ConfigError(
            f"--resume: output_dir={str(out)!r} holds {_listing(ours)} but no {CONFIG}: no run "
            "to continue; choose the run's folder, or a new output_dir"
        )
    logging.getLogger(__name__).warning(
        f"ltzoo: --resume: output_dir={str(out)!r} holds no run to continue; starting fresh "
        f"(its {_listing(present)} stay)"
    )
    write_manifest(out, keep=present)


def claim(
    config: Dict[str, Any],
    *,
    resume: bool,
    overwrite: bool,
    normalize: Callable[[Dict[str, Any]], Dict[str, Any]] = dict,
) -> Path:
    """Make ``config["output_dir"]`` this run's folder, or refuse before anything is written.

    An empty or missing folder is always fine. A folder with files needs ``resume`` (its recorded
    recipe must match on every trajectory setting; the differing keys are named) or ``overwrite``:
    then the folder's manifest must name it a run folder, and only the names the manifest lists
    are deleted. A manifest is written in every folder claimed.
    """
    out = Path(config["output_dir"])
    if resume and overwrite:
        raise ConfigError(
            "--resume and --overwrite contradict each other: continue the run, or start it over"
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir={str(out)!r} is a file, not a folder")
    hold(out)
    # the manifest, and the manifest being written by the first process of a distributed run
    ours = (MANIFEST, f".{MANIFEST}.")
    present = (
        sorted(p.name for p in out.iterdir() if not p.name.startswith(ours)) if out.is_dir() else []
    )
    owned = owned_names(out) if out.is_dir() else None
    if not present:
        if resume:
            logging.getLogger(__name__).warning(
                f"ltzoo: --resume: output_dir={str(out)!r} holds no run to continue; starting fresh"
            )
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(out)
        return out
    if owned is not None and set(present) <= {CONFIG}:
        return out  # a run that stopped before training wrote nothing else: nothing to keep
    if overwrite:
        _start_over(out, present, owned)
        return out
    if not resume:
        raise ConfigError(
            f"output_dir={str(out)!r} already holds files ({_listing(present)}); "
            "pass --resume to continue that run, --overwrite to start over in it, or choose another output_dir"
        )
    if not (out / CONFIG).is_file():
        _resume_without_recipe(out, present)
        return out
    changed = differences(
        trajectory_settings(normalize(read_config(out))), trajectory_settings(config)
    )
    if changed:
        raise ConfigError(
            f"--resume: output_dir={str(out)!r} holds a run trained with other settings ({'; '.join(changed)}); "
            "resume it with its own recipe (--config " + str(out / CONFIG) + "), or use --overwrite"
        )
    if owned is None:  # a run folder of a version before manifests: its recipe matched
        write_manifest(out, keep=[name for name in present if name not in OWNED])
    return out


def check_checkpoint(
    recorded: Optional[Dict[str, Any]], config: Dict[str, Any], where: str
) -> None:
    """Refuse to resume from a checkpoint whose recorded trajectory settings differ (naming them).
    Only keys both sides hold are compared: one the checkpoint does not record was added to the
    schema since, and one this version does not count (``eval.*`` once was) no longer shapes stage 1."""
    if recorded is None:
        return  # written before checkpoints recorded their settings; the folder's recipe was checked
    current = trajectory_settings(config)
    shared = set(recorded) & set(current)
    changed = differences({k: recorded[k] for k in shared}, {k: current[k] for k in shared})
    if changed:
        raise ConfigError(
            f"engine.resume: checkpoint {where} was written by a run with other settings "
            f"({'; '.join(changed)})"
        )


__all__ = [
    "CALIBRATION",
    "CHECKPOINTS",
    "CONFIG",
    "HEADS_DIR",
    "HEADS_TABLE",
    "LOG_CSV",
    "LOG_JSONL",
    "MANIFEST",
    "MODEL",
    "OWNED",
    "RunFolderInUse",
    "RESULTS",
    "SHARED_ENCODER",
    "TIMM_CONFIG",
    "VERSION_KEY",
    "check_checkpoint",
    "check_version",
    "claim",
    "differences",
    "finish_pending_update",
    "fingerprint",
    "flatten",
    "hold",
    "load_tensors",
    "owned_names",
    "read_config",
    "read_epoch_log",
    "read_json",
    "read_results",
    "release_all",
    "replace_together",
    "trajectory_settings",
    "write_manifest",
]
