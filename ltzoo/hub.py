"""Saving, loading and publishing models in timm's Hub format: ``config.json`` + ``model.safetensors``.

A folder written by :func:`save_pretrained` loads with ``timm.create_model("local-dir:DIR")``
(after ``import ltzoo``) or :func:`load_pretrained`; :func:`push_to_hub` (``ltzoo push``) puts the
same files, plus the run's ``results.json``, its recipe ``config.yaml`` and a model card, in a
Hugging Face Hub repository that loads with ``hf-hub:org/name``. Weights are safetensors only:
:func:`~ltzoo.models.weights.safe_weights_overlay` makes every Hub or ``local-dir:`` load refuse
pickled weights.
Tokens come only from huggingface_hub's own mechanisms (``HF_TOKEN``, ``hf auth login``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import timm

from ltzoo.atomic import (
    current_umask,
    save_safetensors_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ltzoo.errors import HubError, InputError
from ltzoo.models.weights import WEIGHTS_NAME, safe_weights_overlay  # noqa: F401  (part of the Hub API)
from ltzoo.run_folder import CONFIG, RESULTS, load_tensors, read_json
from ltzoo.run_folder import TIMM_CONFIG as CONFIG_NAME  # the Hub API's name for it

RUN_FILES = (CONFIG, RESULTS)  # copied from a run folder when present


def model_args_of(model) -> Dict[str, Any]:
    """Arguments that rebuild ``model``'s architecture (backbone, head and head options)."""
    args = dict(getattr(model, "_model_args", {}) or {})
    for key in (
        "pretrained_cfg",
        "pretrained_cfg_overlay",
        "num_classes",
        "pretrained",
        "cache_dir",
    ):
        args.pop(key, None)
    args.update(
        backbone=model.backbone_name, head=model.head_name, head_kwargs=dict(model.head.head_kwargs)
    )
    return args


def save_pretrained(
    model,
    directory: Union[str, Path],
    label_names: Optional[Sequence[str]] = None,
    extra: Optional[Dict[str, Any]] = None,
    data_config: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write ``model.safetensors`` and timm's ``config.json`` (atomically) into ``directory``.

    ``data_config`` (``input_size``, ``mean``, ``std``, ...) records the preprocessing the weights
    were trained with; ``extra`` goes under the ``ltzoo`` key (class counts, results, recipe).
    """

    directory = Path(directory)
    local = ("state_dict", "file", "source", "hf_hub_id", "hf_hub_filename", "url", "tag")
    pretrained_cfg = {k: v for k, v in model.pretrained_cfg.items() if k not in local}
    pretrained_cfg.update(num_classes=model.num_classes, **(data_config or {}))
    config = {
        "architecture": model.pretrained_cfg.get("architecture", "lt_classifier"),
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "pretrained_cfg": pretrained_cfg,
        "model_args": model_args_of(model),
    }
    if label_names is not None:
        config["label_names"] = list(label_names)
    if extra:
        config["ltzoo"] = extra
    save_safetensors_atomic(model.state_dict(), directory / WEIGHTS_NAME, metadata={"format": "pt"})
    write_json_atomic(directory / CONFIG_NAME, json.loads(json.dumps(config, default=list)))
    return directory


def load_pretrained(directory: Union[str, Path], num_classes: Optional[int] = None, **kwargs: Any):
    """The model saved in ``directory``; says which file is missing when the folder is incomplete."""
    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory} has no {name}; a saved ltzoo model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}"
            )
    saved = read_json(directory / CONFIG_NAME).get(
        "num_classes"
    )  # a damaged config.json fails here, named
    if num_classes is not None and saved is not None and saved != num_classes:
        raise InputError(
            f"num_classes={num_classes} does not match the checkpoint in {directory}, which has {saved} classes; "
            "omit num_classes to keep the checkpoint's, or build a new head with model.reset_classifier(n)"
        )
    from safetensors import SafetensorError

    import ltzoo.models  # noqa: F401  (registers the architectures with timm)

    try:
        return timm.create_model(f"local-dir:{directory}", pretrained=True, **kwargs)
    except SafetensorError:
        load_tensors(directory / WEIGHTS_NAME)  # raises InputError naming the damaged file
        raise
    except RuntimeError as error:  # weights of another architecture or class count
        if not _weights_mismatch(error):
            raise
        details = "; ".join(line.strip() for line in str(error).strip().splitlines())
        raise WeightsMismatchError(
            f"{directory / WEIGHTS_NAME} does not fit the model its {CONFIG_NAME} describes "
            f"({details}); the two files come from different models: restore the run's own "
            f"{WEIGHTS_NAME}, or train it again"
        ) from None


class WeightsMismatchError(InputError, RuntimeError):
    """A saved model folder whose weights are another model's (architecture, class count)."""


def _weights_mismatch(error: RuntimeError) -> bool:
    """Whether ``error`` is torch's or timm's complaint about a state dict of another model."""
    text = str(error)
    return any(
        words in text
        for words in ("Error(s) in loading state_dict", "size mismatch", "is inconsistent with")
    )


def _write_recipe(recipe: Any, path: Path) -> None:
    import yaml

    if isinstance(recipe, (str, Path)):
        shutil.copyfile(recipe, path)
    else:  # a dict, or a RunConfig (a pydantic model)
        values = recipe if isinstance(recipe, dict) else recipe.model_dump()
        write_text_atomic(path, yaml.safe_dump(values, sort_keys=False))


def export_for_hub(
    source: Any,
    out_dir: Union[str, Path],
    repo_id: str = "ltzoo-model",
    results: Optional[Dict[str, Any]] = None,
    recipe: Any = None,
) -> Path:
    """Write the repository folder of ``source`` (a run folder, or a model) into ``out_dir``.

    It holds ``model.safetensors``, ``config.json``, ``README.md`` (the model card) and, when
    known, ``results.json`` (``results``), ``config.yaml`` (``recipe``: a path, dict or
    ``RunConfig``) and ``per_class_accuracy.png``. The folder is loaded back before this
    returns, so weights that do not fit the architecture fail here, with the keys named.
    ``out_dir`` must be new or empty. The folder is written under a temporary name beside it and
    renamed when complete: an error or a kill part-way leaves ``out_dir`` as it was.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out} is not empty; export into a new folder (its files would all be published)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; mkdir's mode instead
        _write_repository_folder(source, staging, repo_id, results, recipe)
        os.replace(staging, out)  # over an empty folder too (POSIX rename)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_repository_folder(
    source: Any, out: Path, repo_id: str, results: Optional[Dict[str, Any]], recipe: Any
) -> None:
    """The files of :func:`export_for_hub`, into the (new, empty) folder ``out``."""
    from safetensors.torch import load_file

    from ltzoo.model_card import PLOT_NAME, build_model_card, find_plot, make_plot

    run_dir = None
    if isinstance(source, (str, Path)):
        run_dir = Path(source)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (run_dir / name).is_file():
                raise FileNotFoundError(
                    f"{run_dir} has no {name}: push a run folder written by `ltzoo train`"
                )
        for name in (CONFIG_NAME, WEIGHTS_NAME) + RUN_FILES:
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, out / name)
        if results is None and (run_dir / RESULTS).is_file():
            results = json.loads((run_dir / RESULTS).read_text())
    else:
        deploy = (results or {}).get("deploy")
        extra = (
            {"class_counts": results.get("class_counts"), "deployed_method": deploy}
            if results
            else None
        )
        labels = (results or {}).get("class_names") or source.pretrained_cfg.get("label_names")
        save_pretrained(source, out, label_names=labels, extra=extra)
    if results is not None:
        write_json_atomic(out / RESULTS, results)
    if recipe is not None:
        _write_recipe(recipe, out / CONFIG)
    load_pretrained(out)
    found = find_plot(run_dir)
    plot = (
        shutil.copyfile(found, out / PLOT_NAME)
        if found
        else (make_plot(results, out / PLOT_NAME) if results else None)
    )
    config = json.loads((out / CONFIG_NAME).read_text())
    files = sorted([p.name for p in out.iterdir() if p.is_file()] + ["README.md"])
    card = build_model_card(
        config,
        load_file(str(out / WEIGHTS_NAME)),
        repo_id,
        results,
        plot=PLOT_NAME if plot else None,
        files=files,
    )
    card.save(out / "README.md")


def _hub_problem(error: BaseException, repo_id: str) -> Optional[Tuple[str, bool]]:
    """(what went wrong talking to the Hub, in words; whether the Hub answered) or ``None`` when
    ``error`` is neither a Hub answer nor a network error (a bug)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        said = (getattr(error, "server_message", None) or str(error)).strip().splitlines()[0]
        if status == 401:
            return (
                f"the Hub refused the token (HTTP 401: {said}); set a valid HF_TOKEN or run `hf auth login` "
                "with a token that has write access"
            ), True
        if status == 403:
            return (
                f"no write access to {repo_id} (HTTP 403: {said}); use a token with write access to it, "
                "or push to a repository you own"
            ), True
        return f"the Hub answered HTTP {status}: {said}", True
    transport = any(
        c.__name__ == "TransportError" and c.__module__.startswith("httpx")
        for c in type(error).__mro__
    )
    if transport or isinstance(error, (ConnectionError, TimeoutError)):
        from huggingface_hub import constants

        return (
            f"the Hub at {constants.ENDPOINT} could not be reached ({type(error).__name__}: {error})",
            False,
        )
    return None


def push_to_hub(
    source: Any,
    repo_id: str,
    *,
    results: Optional[Dict[str, Any]] = None,
    recipe: Any = None,
    private: Optional[bool] = None,
    revision: Optional[str] = None,
    commit_message: Optional[str] = None,
    announce: Optional[Callable[[Path], None]] = None,
):
    """Publish ``source`` (a trained model or a run folder) to the Hub repository ``repo_id``.

    ``ltzoo.push_to_hub(model, "org/name", results=results)`` or ``push_to_hub("runs/x", "org/name")``.
    Creates the repository (``private=True``: private; ``None``: the Hub's default) and the branch
    ``revision`` when missing, then uploads the folder of :func:`export_for_hub` in one commit (an
    existing repository keeps its visibility). ``announce(folder)`` is called with that folder before
    anything is sent. The token is huggingface_hub's own (``HF_TOKEN`` or ``hf auth login``); ltzoo
    never reads, logs or writes it. Returns huggingface_hub's ``CommitInfo``. A refused request or an
    unreachable Hub raises :class:`ltzoo.errors.HubError`, saying whether the files are on the Hub.
    """
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InputError(f"repo_id={repo_id!r} is not an 'org/name' repository id")
    target = f"{repo_id}@{revision or 'main'}"
    with tempfile.TemporaryDirectory(prefix="ltzoo-push-") as tmp:
        folder = export_for_hub(source, tmp, repo_id=repo_id, results=results, recipe=recipe)
        if announce is not None:
            announce(folder)
        api, step = HfApi(), "create the repository"
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision and revision != "main":
                step = f"create the branch {revision}"
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            step = "upload"
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                revision=revision,
                commit_message=commit_message or f"Upload {repo_id} with ltzoo",
            )
        except Exception as error:
            found = _hub_problem(error, repo_id)
            if found is None:
                raise
            problem, answered = found
            if step != "upload" or answered:
                where = "nothing was uploaded" + (
                    "" if step != "upload" else " (the push is one commit, and it was refused)"
                )
            else:  # the connection broke during the upload: the commit may have landed before it did
                where = (
                    "the upload did not complete; the push is one commit, so either all the files are on "
                    f"{target} or none: check the repository's history before pushing again"
                )
            raise HubError(f"push to {target} failed at '{step}': {problem}; {where}") from None
