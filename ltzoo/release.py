"""The release store: the trained weights of every released tag, kept compactly, checked, assembled,
and pushed to the Hugging Face Hub.

A store is a folder (``weights/`` of the repository; not part of the wheel) holding

* ``encoders/<backbone>.<tag>.safetensors``: each trained encoder once (the ``backbone.*`` tensors);
* ``heads/<arch>.<tag>.safetensors``: each released model's head and calibration tensors
  (``head.*``, ``calibration.*``);
* ``index.json``: the SHA-256 and size of every file, and per released model ``<arch>.<tag>`` its
  encoder, head, timm ``config.json`` fields, metrics, calibration and provenance (record, recipe,
  command, machine, protocol).

Every file is checked against its SHA-256 before use; one that differs is refused, naming it.
``ltzoo release build OUT`` assembles ``OUT/<arch>.<tag>/`` (``model.safetensors``, ``config.json``,
``README.md`` model card), loadable with ``timm.create_model("local-dir:OUT/<arch>.<tag>")``;
``ltzoo release push OUT --org ORG`` uploads the folders, skipping files the Hub already has;
``ltzoo release list`` prints every released model. Adding a trained run is
:func:`ltzoo.train.release_models.add_run` (``ltzoo release add``), which needs the data.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import safetensors.torch
import torch

from ltzoo.atomic import write_bytes_atomic, write_json_atomic
from ltzoo.errors import HubError, InputError
from ltzoo.models.published import TABLE_PATH, hub_org
from ltzoo.models.weights import WEIGHTS_NAME
from ltzoo.run_folder import TIMM_CONFIG as CONFIG_NAME

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
CARD_NAME = "README.md"
STORE_LIMIT_BYTES = 40 * 1000 * 1000  # the whole store stays under 40 MB
ENCODER_PREFIX = "backbone."
HEAD_PREFIXES = ("head.", "calibration.")
GROUPS = (("All", "top1"), ("Many", "many"), ("Medium", "medium"), ("Few", "few"))


def default_store() -> Path:
    """``weights/`` of the source checkout ltzoo is imported from, else of the working directory."""
    checkout = Path(__file__).resolve().parents[1] / "weights"
    return checkout if checkout.is_dir() else Path("weights")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize(tensors: Dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of ``tensors`` in sorted key order: the same tensors give the same bytes."""
    ordered = {k: tensors[k].detach().contiguous().cpu() for k in sorted(tensors)}
    return safetensors.torch.save(ordered, metadata={"format": "pt"})


class ReleaseStore:
    """The store at ``root``: :meth:`put` files, :meth:`tensors` read them back checked, :meth:`assemble`
    builds a released model's state dict and ``config.json``."""

    def __init__(self, root: Union[str, Path, None] = None):
        self.root = Path(root) if root is not None else default_store()
        path = self.root / INDEX_NAME
        if path.is_file():
            self.index = json.loads(path.read_text())
            if self.index.get("format") != INDEX_FORMAT:
                raise InputError(
                    f"{path} has format {self.index.get('format')!r}; this ltzoo reads format {INDEX_FORMAT}"
                )
        else:
            self.index = {"format": INDEX_FORMAT, "files": {}, "releases": {}}

    # ---- files ---------------------------------------------------------------------------------
    def put(self, relative: str, tensors: Dict[str, torch.Tensor], replace: bool = False) -> str:
        """Write ``tensors`` at ``relative`` unless the same bytes are there; returns their SHA-256.
        A different file already stored under that name is kept unless ``replace``."""
        data = serialize(tensors)
        digest = sha256_bytes(data)
        known = self.index["files"].get(relative)
        if known and known["sha256"] != digest and not replace:
            raise InputError(
                f"{self.root / relative} already holds other weights (SHA-256 {known['sha256']}); "
                "a tag's encoder is trained once: pass replace=True (--replace) to store the new one"
            )
        if not known or known["sha256"] != digest or not (self.root / relative).is_file():
            write_bytes_atomic(self.root / relative, data)
        self.index["files"][relative] = {"sha256": digest, "bytes": len(data)}
        return digest

    def read(self, relative: str) -> bytes:
        """The bytes of ``relative``, refused (naming it) when its SHA-256 is not the index's."""
        entry = self.index["files"].get(relative)
        path = self.root / relative
        if entry is None:
            raise InputError(f"{path} is not listed in {self.root / INDEX_NAME}")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is listed in {self.root / INDEX_NAME} but missing")
        data = path.read_bytes()
        found = sha256_bytes(data)
        if found != entry["sha256"]:
            raise InputError(
                f"{path} has SHA-256 {found}, but {self.root / INDEX_NAME} records {entry['sha256']}: "
                "the file was changed or damaged; refusing to use it"
            )
        return data

    def tensors(self, relative: str) -> Dict[str, torch.Tensor]:
        return safetensors.torch.load(self.read(relative))

    def size(self) -> int:
        return sum(f["bytes"] for f in self.index["files"].values())

    def save(self) -> None:
        """Write the index (atomically) and, in a source checkout, the published-weights table."""
        if self.size() > STORE_LIMIT_BYTES:
            raise InputError(
                f"the store {self.root} would hold {self.size() / 1e6:.1f} MB; it must stay under "
                f"{STORE_LIMIT_BYTES / 1e6:.0f} MB (keep large models' weights outside the repository)"
            )
        self.index["files"] = dict(sorted(self.index["files"].items()))
        self.index["releases"] = dict(sorted(self.index["releases"].items()))
        write_json_atomic(self.root / INDEX_NAME, self.index)

    # ---- released models -----------------------------------------------------------------------
    def add(
        self,
        name: str,
        state: Dict[str, torch.Tensor],
        config: Dict[str, Any],
        info: Dict[str, Any],
        replace: bool = False,
    ) -> Dict[str, Any]:
        """Store model ``name`` (``<arch>.<tag>``): its encoder once, its head apart, its entry."""
        arch, tag = split_name(name)
        backbone = config["model_args"]["backbone"]
        encoder = {k: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
        head = {k: v for k, v in state.items() if k.startswith(HEAD_PREFIXES)}
        other = sorted(set(state) - set(encoder) - set(head))
        if other:
            raise InputError(f"{name}: tensors {other[:5]} are neither encoder nor head")
        encoder_file, head_file = (
            f"encoders/{backbone}.{tag}.safetensors",
            f"heads/{name}.safetensors",
        )
        self.put(encoder_file, encoder, replace=replace)
        self.put(head_file, head, replace=True)
        entry = {"encoder": encoder_file, "head": head_file, "config": config, **info}
        entry["model_sha256"] = sha256_bytes(serialize(state))
        self.index["releases"][name] = entry
        return entry

    def remove(self, name: str) -> List[str]:
        """Withdraw released model ``name``: its entry, and the files no other release uses (deleted
        from the store); returns those files. The index is written by :meth:`save`."""
        entry = self.entry(name)
        del self.index["releases"][name]
        used = {e[key] for e in self.index["releases"].values() for key in ("encoder", "head")}
        unused = [f for f in (entry["encoder"], entry["head"]) if f not in used]
        for relative in unused:
            self.index["files"].pop(relative, None)
            (self.root / relative).unlink(missing_ok=True)
        return unused

    def names(self, pattern: str = "*") -> List[str]:
        return sorted(n for n in self.index["releases"] if fnmatch.fnmatch(n, pattern))

    def entry(self, name: str) -> Dict[str, Any]:
        if name not in self.index["releases"]:
            raise InputError(
                f"{name!r} is not in the release store {self.root}; released: "
                f"{', '.join(self.names()) or '(none)'}"
            )
        return self.index["releases"][name]

    def assemble(self, name: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
        """``(state dict, config.json)`` of released model ``name``, every file checked."""
        entry = self.entry(name)
        state = {**self.tensors(entry["encoder"]), **self.tensors(entry["head"])}
        if sha256_bytes(serialize(state)) != entry["model_sha256"]:
            raise InputError(
                f"{name}: the assembled weights differ from the released model's SHA-256"
            )
        return state, entry["config"]

    def published_table(self, org: Optional[str] = None) -> Dict[str, Any]:
        """The published-weights table (``ltzoo/models/published_weights.json``) this store gives."""
        weights = {}
        for name, entry in self.index["releases"].items():
            metrics = entry["metrics"]
            weights[name] = {
                "sha256": entry["model_sha256"],
                "top1": metrics["top1"],
                "ece": entry["calibration"]["scores"]["after"]["ece"],
            }
        return {"org": org or hub_org(), "weights": dict(sorted(weights.items()))}

    def write_published_table(self, path: Path = TABLE_PATH, org: Optional[str] = None) -> Path:
        return write_json_atomic(path, self.published_table(org))


def split_name(name: str) -> Tuple[str, str]:
    if name.count(".") != 1:
        raise InputError(f"{name!r} is not a released model name; expected <arch>.<tag>")
    arch, tag = name.split(".")
    return arch, tag


# ---- build -------------------------------------------------------------------------------------------
def build(
    out_dir: Union[str, Path],
    store: Optional[ReleaseStore] = None,
    pattern: str = "*",
    org: Optional[str] = None,
) -> List[Path]:
    """``OUT/<arch>.<tag>/`` for every released model matching ``pattern``: weights, ``config.json``
    and the model card. Each folder is loaded back with timm before this returns."""
    import ltzoo.models  # noqa: F401  (registers the architectures with timm's create_model)
    from ltzoo.atomic import save_safetensors_atomic, write_text_atomic
    from ltzoo.hub import load_pretrained

    store = store or ReleaseStore()
    names = store.names(pattern)
    if not names:
        raise InputError(f"no released model matches {pattern!r} in {store.root}")
    folders = []
    for name in names:
        state, config = store.assemble(name)
        folder = Path(out_dir) / name
        data = serialize(state)
        save_safetensors_atomic(
            safetensors.torch.load(data), folder / WEIGHTS_NAME, metadata={"format": "pt"}
        )
        write_json_atomic(folder / CONFIG_NAME, config)
        repo_id = f"{org or hub_org()}/{name}"
        write_text_atomic(folder / CARD_NAME, release_card(name, repo_id, store.entry(name)))
        model = load_pretrained(folder)
        loaded = {k: v for k, v in model.state_dict().items()}
        if any(not torch.equal(loaded[k], v) for k, v in state.items()):
            raise InputError(f"{folder}: the model loaded back differs from the released weights")
        folders.append(folder)
    return folders


def _pct(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


def _card_data(name: str, entry: Dict[str, Any]):
    """The card's metadata (``ModelCardData``): tags and the model-index test metrics."""
    from huggingface_hub import EvalResult, ModelCardData

    metrics, scores, dataset = entry["metrics"], entry["calibration"]["scores"], entry["dataset"]
    # a group without classes (no class under 20 images on CIFAR-10-LT at IF 100) has no metric
    values = [
        ("accuracy", f"Top-1 {label}", metrics[key])
        for label, key in GROUPS
        if metrics.get(key) is not None
    ]
    values.append(("ece", "ECE % (calibrated)", scores["after"]["ece"]))
    results = [
        EvalResult(
            task_type="image-classification",
            dataset_type=dataset,
            dataset_name=entry["dataset_title"],
            dataset_split="test",
            metric_type=kind,
            metric_name=label,
            metric_value=round(float(value), 2),
        )
        for kind, label, value in values
    ]
    return ModelCardData(
        library_name="timm",
        license="apache-2.0",
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "ltzoo", "long-tailed", dataset],
        model_name=name,
        eval_results=results,
    )


def _card_summary(name: str, arch: str, repo_id: str, entry: Dict[str, Any]) -> List[str]:
    """The card's title, what the model is, and how to load it."""
    config = entry["config"]
    cfg = config["pretrained_cfg"]
    return [
        f"# {name}",
        "",
        f"{entry['description']} A long-tailed image classifier from ltzoo: `{arch}` "
        f"(backbone `{config['model_args']['backbone']}`, "
        f"head `{config['model_args']['head']}`), {config['num_classes']} classes of {entry['dataset_title']}, "
        f"input {tuple(cfg['input_size'])}, mean {tuple(cfg['mean'])}, std {tuple(cfg['std'])}. "
        "Weights are safetensors only.",
        "",
        "## How to load",
        "",
        "```python",
        "import ltzoo, timm",
        f'model = timm.create_model("{name}", pretrained=True).eval()  # after import ltzoo',
        f'model = ltzoo.create_model("hf-hub:{repo_id}", pretrained=True).eval()',
        "```",
        "",
    ]


def _card_results(entry: Dict[str, Any]) -> List[str]:
    """The card's test results table and its calibration."""
    metrics, calibration = entry["metrics"], entry["calibration"]
    scores = calibration["scores"]
    return [
        "## Results (test set, top-1 %)",
        "",
        "| All | Many | Medium | Few | ECE before | ECE after | NLL before | NLL after |",
        "|---|---|---|---|---|---|---|---|",
        f"| {_pct(metrics['top1'])} | {_pct(metrics['many'])} | {_pct(metrics['medium'])} | "
        f"{_pct(metrics['few'])} | {_pct(scores['before']['ece'])} | {_pct(scores['after']['ece'])} | "
        f"{scores['before']['nll']:.4f} | {scores['after']['nll']:.4f} |",
        "",
        "Many / Medium / Few: classes with > 100 / 20-100 / < 20 training images. Protocol: "
        f"{entry['protocol']}. Top-1 is the same before and after calibration (a temperature does not "
        "change the arg-max).",
        "",
        "## Calibration",
        "",
        f"Temperature T = {calibration['temperature']:.4f}, fitted on the {calibration['fitted_on']}; "
        f"the deployed logits are z / T{' + b (prior shift)' if calibration.get('prior_shift') else ''}.",
        "",
    ]


def _card_training(entry: Dict[str, Any]) -> List[str]:
    """The card's training provenance: recipe, command, record, machine and validation split."""
    validation = entry.get("validation") or {}
    moved = validation.get("moved_from_training") or {}
    moved_text = ", ".join(f"{k}: {v}" for k, v in moved.items()) or "none"
    return [
        "## Training",
        "",
        f"- recipe: `{entry['recipe']}`",
        f"- command: `{entry['command']}`",
        f"- record: `{entry['record']}`",
        f"- machine: {entry['machine']}",
        f"- validation split: {validation.get('images', 0)} images, {validation.get('per_class', '-')} per "
        f"class, drawn from the training images the long-tail profile leaves out; training images moved to "
        f"it, per class: {moved_text}. Every data-chosen value ({', '.join(entry['chosen_on_validation'])}) "
        "was chosen on this split, never on the test set.",
        "- licence: Apache-2.0",
        "",
    ]


def release_card(name: str, repo_id: str, entry: Dict[str, Any]) -> str:
    """The model card (``README.md``) of a released model, with model-index metrics."""
    arch, _ = split_name(name)
    data = _card_data(name, entry)
    body = _card_summary(name, arch, repo_id, entry) + _card_results(entry) + _card_training(entry)
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)


# ---- push --------------------------------------------------------------------------------------------
def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _remote_etag(repo_id: str, filename: str) -> Optional[str]:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return get_hf_file_metadata(hf_hub_url(repo_id, filename)).etag
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return None


def changed_files(folder: Path, repo_id: str) -> List[str]:
    """Files of ``folder`` whose content the Hub repository does not hold yet (by ETag: the SHA-256
    of a large file, the git blob SHA-1 of a small one)."""
    changed = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        data = path.read_bytes()
        etag = (_remote_etag(repo_id, path.name) or "").strip('"')
        if etag not in (sha256_bytes(data), _git_blob_sha1(data)):
            changed.append(path.name)
    return changed


def push(
    out_dir: Union[str, Path],
    org: str,
    pattern: str = "*",
    private: bool = False,
    report: Callable[[str], None] = print,
) -> Dict[str, List[str]]:
    """Upload every ``OUT/<arch>.<tag>/`` matching ``pattern`` to ``<org>/<arch>.<tag>``; files the Hub
    already holds are not uploaded again. Returns ``{"landed", "unchanged", "failed"}`` folder names."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folders = sorted(
        p for p in Path(out_dir).iterdir() if p.is_dir() and fnmatch.fnmatch(p.name, pattern)
    )
    if not folders:
        raise InputError(
            f"{out_dir} holds no release folder matching {pattern!r}; run `ltzoo release build` first"
        )
    api, outcome = HfApi(), {"landed": [], "unchanged": [], "failed": []}
    for folder in folders:
        repo_id = f"{org}/{folder.name}"
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            changed = changed_files(folder, repo_id)
            if not changed:
                outcome["unchanged"].append(folder.name)
                report(f"unchanged {repo_id}: the Hub holds every file already")
                continue
            operations = [CommitOperationAdd(name, str(folder / name)) for name in changed]
            api.create_commit(repo_id, operations, commit_message=f"ltzoo release of {folder.name}")
            outcome["landed"].append(folder.name)
            report(f"landed {repo_id}: {', '.join(changed)}")
        except (HfHubHTTPError, OSError, ValueError) as error:
            outcome["failed"].append(folder.name)
            report(f"FAILED {repo_id}: {HubError(str(error).splitlines()[0])}")
    return outcome


def list_rows(store: Optional[ReleaseStore] = None) -> List[Dict[str, Any]]:
    """One row per released model: name, top-1, ECE after calibration, size, SHA-256."""
    store = store or ReleaseStore()
    rows = []
    for name in store.names():
        entry = store.entry(name)
        files = [store.index["files"][entry[k]]["bytes"] for k in ("encoder", "head")]
        rows.append(
            {
                "name": name,
                "top1": entry["metrics"]["top1"],
                "ece": entry["calibration"]["scores"]["after"]["ece"],
                "mb": sum(files) / 1e6,
                "sha256": entry["model_sha256"],
            }
        )
    return rows


__all__ = [
    "ReleaseStore",
    "build",
    "changed_files",
    "default_store",
    "list_rows",
    "push",
    "release_card",
]
