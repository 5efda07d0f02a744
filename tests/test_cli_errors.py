"""Bad input through the real CLI: exit status 2, one line on stderr naming the input, no
traceback, and nothing written or the files already there byte-identical (no temporary file left).
Any other exception is a bug and keeps its traceback.

The rows run in-process (``ltzoo.cli.main``); the Hub ones against a fake Hub on 127.0.0.1
(``tests.test_hub_push.use_hub``).
"""

import errno
import json
import os
import shutil
import socket
import sys

import numpy as np
import pytest
from PIL import Image

from ltzoo import __version__
from ltzoo.cli import main
from tests.test_hub_local import FAKE_TOKEN, make_run_dir
from tests.test_hub_push import FakeHub, use_hub


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def _one_line(err, *names):
    assert err.count("\n") == 1 and "Traceback" not in err and all(n in err for n in names), err
    return err


def _fails(argv, capsys, *names, folder=None):
    """``ltzoo ARGV`` exits 2 with one line naming ``names``, and leaves ``folder`` as it was."""
    before = _snapshot(folder) if folder is not None else None
    assert main(argv) == 2
    _one_line(capsys.readouterr().err, *names)
    if folder is not None:
        assert _snapshot(folder) == before


# ---- recipes: schema, YAML, resume ------------------------------------------------------------------
BAD_INPUTS = [
    (["train", "--set", "stage1.lr=-1"], "stage1.lr=-1 is not allowed"),
    (["train", "--set", "stage1.weight_decay=-5e-4"], "stage1.weight_decay=-0.0005 is not allowed"),
    (["train", "--set", "stage1.epochs=-2"], "stage1.epochs=-2 is not allowed"),
    (["train", "--set", "stage2.lr=0"], "stage2.lr=0 is not allowed"),
    (
        ["train", "--set", "stage1.loss=ldam", "--set", "stage1.loss_kwargs={max_m: -1}"],
        "stage1.loss_kwargs=",
    ),
    (
        ["train", "--set", "stage1.loss=focal", "--set", "stage1.loss_kwargs={gamma: -1}"],
        "focal: gamma=-1 is out of range",
    ),
    (["train", "--set", "stage1.schedule=multistep"], "stage1.milestones=[] is not allowed"),
    (["train", "--set", "data.imbalance=0"], "data.imbalance=0 is not allowed"),
    (
        ["train", "--set", "data.few_threshold=200"],
        "data.few_threshold=200 is not allowed with many_threshold=100",
    ),
    (["train", "--set", "stage2.tau_grid=[0.5, -1]"], "stage2.tau_grid.1=-1 is not allowed"),
    (["train", "--set", "stage2.tau_grid=[]"], "stage2.tau_grid=[] is not allowed"),
    (
        ["train", "--set", "stage2.method_options={tau: {tau_grid: [-0.5]}}"],
        "stage2.method_options.tau: tau_grid=[-0.5]",
    ),
    (["train", "--set", "stage2.encoder_lr_scale=-1"], "stage2.encoder_lr_scale=-1 is not allowed"),
    (["train", "--set", "stage2.method_options={iwb: {lam: -1}}"], "stage2.method_options.iwb"),
    (["train", "--set", "stage1.lr=[0.1"], "--set 'stage1.lr=[0.1': the value is not valid YAML"),
    (
        ["train", "--set", "stage1.lr=.inf"],
        "stage1.lr=inf is not allowed: input should be a finite",
    ),
    (["train", "--set", "stage2.weight_decay=.nan"], "stage2.weight_decay=nan is not allowed"),
    (["train", "--set", "seed=-1"], "seed=-1 is not allowed"),
    (["train", "--config", "."], "argument --config: '.' is a folder; it must be a file"),
    (["train", "--set", "=3"], "--set '=3' is not allowed: the key '' has an empty part"),
    (
        ["data", "describe", "digits_lt", "--plot", "counts.xyz"],
        "the file type 'xyz' is not allowed",
    ),
    (["push", ".", "--repo-id", "org/my model"], "--repo-id 'org/my model' is not allowed"),
    (
        ["train", "--set", "engine.resume=/nonexistent"],
        "engine.resume='/nonexistent' cannot be used: it does not exist",
    ),
    (["data", "describe", "digits_lt", "--imb", "-5"], "argument --imb: '-5' is not allowed"),
    (["predict", "no_such_model", "x.png"], "model 'no_such_model' is not allowed"),
    (["report", "no_such_run"], "'no_such_run' is not a run folder"),
    (["tune", "--param", "stage1.lr=bogus:1:2"], "kind 'bogus' is not allowed"),
    (
        ["tune", "--param", "stage1.lr=loguniform:1e-3:0.1", "--storage", "study.db"],
        "--storage 'study.db' is not a database URL; e.g. sqlite:///study.db",
    ),
    (
        ["tune", "--param", "stage1.lr=loguniform:1e-3:0.1", "--storage", "bogus://host/db"],
        "--storage 'bogus://host/db': SQLAlchemy knows no database 'bogus'",
    ),
]


@pytest.mark.parametrize("argv, names", BAD_INPUTS, ids=[" ".join(a[1:]) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # predict/report/tune name relative paths
    out = tmp_path / "run"
    assert (
        main([*argv, "--output-dir", str(out)] if argv[0] in ("train", "tune", "report") else argv)
        == 2
    )
    _one_line(capsys.readouterr().err, names)
    assert _snapshot(out) == {}


@pytest.mark.parametrize(
    "url, driver, install",
    [
        (
            "postgresql+psycopg://me:secret@127.0.0.1:5432/db",
            "psycopg",
            "pip install 'psycopg[binary]'",
        ),
        (
            "postgresql+psycopg2://me:secret@127.0.0.1:5432/db",
            "psycopg2",
            "pip install psycopg2-binary",
        ),
    ],
)
def test_tune_storage_without_its_driver_names_the_package(
    url, driver, install, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, driver, None)  # as if it were not installed
    out = tmp_path / "study"
    argv = ["tune", "--param", "stage1.lr=loguniform:1e-3:0.1", "--storage", url]
    _fails(
        [*argv, "--output-dir", str(out)], capsys, f"driver {driver!r} is not installed", install
    )
    assert not out.exists()


def test_tune_storage_no_server_is_one_line_without_the_password(tmp_path, capsys):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://me:secret@127.0.0.1:{port}/db"
    argv = ["tune", "--param", "stage1.lr=loguniform:1e-3:0.1", "--storage", url]
    assert main([*argv, "--output-dir", str(tmp_path / "study")]) == 2
    err = _one_line(
        capsys.readouterr().err,
        f"--storage 'postgresql+psycopg://me:***@127.0.0.1:{port}/db' cannot be opened",
        "Connection refused",
    )
    assert "secret" not in err


def test_bad_yaml_recipe_names_file_and_line(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("stage1:\n  epochs: 2\n lr: 0.1\n")
    _fails(["train", "--config", str(recipe)], capsys, "bad.yaml' is not valid YAML at line 3")


def test_empty_recipe_and_empty_output_dir_are_refused(tmp_path, capsys, monkeypatch):
    """Neither silently runs the embedded default recipe into its default folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    _fails(["train", "--config", "empty.yaml"], capsys, "'empty.yaml' is empty", folder=tmp_path)
    _fails(["train", "--output-dir", ""], capsys, "--output-dir: '' is not", folder=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_diverging_rates_stop_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--output-dir", str(out), "--set", "stage1.lr=1e30", "--set", "progress=false"]
    assert main(argv) == 2
    _one_line(capsys.readouterr().err, "stage 1: loss is nan", "Lower stage1.lr")
    assert not (out / "model.safetensors").exists() and not (out / "checkpoints").exists()


def test_recipe_that_is_not_a_mapping(tmp_path, capsys):
    recipe = tmp_path / "list.yaml"
    recipe.write_text("- stage1\n- stage2\n")
    _fails(
        ["train", "--config", str(recipe), "--output-dir", str(tmp_path / "run")],
        capsys,
        "list.yaml' must hold a mapping of sections",
        "got a list",
    )
    assert not (tmp_path / "run").exists()


def _checkpoint(folder, overrides=(), version=__version__):
    """A sealed (empty) checkpoint folder recording the trajectory settings of ``overrides``."""
    from ltzoo.run_folder import trajectory_settings
    from ltzoo.train.checkpoint import MANIFEST, seal
    from ltzoo.train.config import load_config, to_dict

    folder.mkdir(parents=True)
    seal(
        folder,
        {"epoch": 0, "step": 1},
        trajectory_settings(to_dict(load_config(None, list(overrides)))),
    )
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(dict(manifest, ltzoo_version=version)))
    return folder


def test_resume_from_another_runs_checkpoint_writes_nothing(tmp_path, capsys):
    other = _checkpoint(tmp_path / "other" / "step_000000001", ["seed=1"])
    _fails(
        ["train", "--output-dir", str(tmp_path / "run"), "--resume", str(other)],
        capsys,
        f"checkpoint {other} was written by a run with other settings (seed: 1 -> 0)",
        folder=tmp_path,
    )
    assert not (tmp_path / "run").exists()


def test_checkpoint_of_a_newer_ltzoo_is_refused(tmp_path, capsys):
    newer = _checkpoint(tmp_path / "ckpt" / "step_000000001", version="99.1.0")
    _fails(
        ["train", "--output-dir", str(tmp_path / "run"), "--resume", str(newer)],
        capsys,
        f"checkpoint {newer} was written by ltzoo 99.1.0, newer than this ltzoo {__version__}",
        folder=tmp_path,
    )


# ---- run folders: damaged files, versions -----------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("errors") / "run")


def _half(data):
    return data[: len(data) // 2]


def _head(data):
    return data[:100]


DAMAGED = [
    ("eval", "model.safetensors", _half, "model.safetensors is not a readable safetensors file"),
    ("eval", "model.safetensors", _head, "model.safetensors is not a readable safetensors file"),
    ("predict", "model.safetensors", _half, "model.safetensors is not a readable safetensors file"),
    (
        "eval",
        "heads/lws.safetensors",
        _half,
        "heads/lws.safetensors is not a readable safetensors file",
    ),
    ("eval", "results.json", _half, "results.json cannot be read as JSON"),
    ("eval", "config.json", _half, "config.json cannot be read as JSON"),
    ("eval", "heads/heads.json", _half, "heads/heads.json cannot be read as JSON"),
    ("calibrate", "results.json", _half, "results.json cannot be read as JSON"),
]


@pytest.mark.parametrize(
    "command, name, damage, names", DAMAGED, ids=[f"{c} {n} {d.__name__}" for c, n, d, _ in DAMAGED]
)
def test_damaged_run_file_is_named(command, name, damage, names, run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / name).write_bytes(damage((run / name).read_bytes()))
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    _fails(
        [command, str(run)] + ([str(image)] if command == "predict" else []),
        capsys,
        names,
        "damaged",
        folder=run,
    )


PREDICT_OPTIONS = [
    (["--topk", "0"], "argument --topk: '0' is not allowed; it must be an integer >= 1"),
    (["--batch-size", "0"], "argument --batch-size: '0' is not allowed"),
    (["--input-size", "5", "32", "32"], "input_size=[5, 32, 32] is not allowed"),
    (["--mean", "0.1", "0.2", "0.3", "0.4"], "mean=[0.1, 0.2, 0.3, 0.4] is not allowed"),
    (["--std", "0"], "argument --std: '0' is not allowed; it must be a finite number > 0"),
    (["--interpolation", "bogus"], "interpolation='bogus' is not allowed; allowed: nearest"),
    (["--device", "tpu9"], "device='tpu9' is not allowed"),
    (["--crop-pct", "0"], "argument --crop-pct: '0' is not allowed"),
]


@pytest.mark.parametrize(
    "option, names", PREDICT_OPTIONS, ids=[" ".join(o) for o, _ in PREDICT_OPTIONS]
)
def test_predict_checks_every_option_before_its_output_is_touched(
    option, names, run_dir, tmp_path, capsys, monkeypatch
):
    """An existing --json file is byte-identical after a refused option."""
    monkeypatch.chdir(tmp_path)
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    (tmp_path / "keep.jsonl").write_text('{"mine": 1}\n')
    _fails(["predict", str(run_dir), "x.png", "--json", "keep.jsonl", *option], capsys, names)
    assert (tmp_path / "keep.jsonl").read_text() == '{"mine": 1}\n'


def test_predict_never_writes_onto_a_folder_or_an_input(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    before = _snapshot(tmp_path)
    _fails(["predict", str(run_dir), ".", "--json", "."], capsys, "--json: '.' is a folder")
    _fails(["predict", str(run_dir), "x.png", "--json", "x.png"], capsys, "one of the images")
    _fails(["predict", str(run_dir), "x.png", "--json", "no/p.jsonl"], capsys, "does not exist")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("other", ["class_count", "architecture"])
def test_weights_of_another_model_are_named_by_every_reader(other, run_dir, tmp_path, capsys):
    """eval, calibrate and predict refuse a model.safetensors that is not the config's model."""
    import safetensors.torch

    import ltzoo

    run = shutil.copytree(run_dir, tmp_path / "run")
    weights = safetensors.torch.load_file(str(run / "model.safetensors"))
    if other == "class_count":  # the same network with a head of 3 classes fewer
        weights = {k: v[:-3] if k.startswith("head.") else v for k, v in weights.items()}
    else:
        weights = ltzoo.create_model("resnet32_ce", num_classes=7).state_dict()
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in weights.items()}, str(run / "model.safetensors")
    )
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    for argv in (
        ["eval", str(run)],
        ["calibrate", str(run)],
        ["predict", str(run), str(tmp_path / "x.png")],
    ):
        _fails(
            argv,
            capsys,
            "model.safetensors does not fit the model its config.json describes",
            folder=run,
        )


def test_a_target_prior_file_of_broken_json_is_named(run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    (tmp_path / "prior.json").write_text("[1, 2")
    _fails(
        ["calibrate", str(run), "--target-prior", str(tmp_path / "prior.json")],
        capsys,
        "prior.json' is not valid JSON",
        folder=run,
    )


def test_calibrate_tau_must_be_finite(run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    for tau in ("inf", "nan", "-1"):
        _fails(["calibrate", str(run), "--tau", tau], capsys, f"--tau: '{tau}' is not", folder=run)


def test_calibrate_without_a_validation_split(run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    recipe = (run / "config.yaml").read_text()
    assert "val_fraction: 0.2" in recipe
    (run / "config.yaml").write_text(recipe.replace("val_fraction: 0.2", "val_fraction: 0.0"))
    _fails(
        ["calibrate", str(run)],
        capsys,
        f"run {run} has no validation split (data.val_fraction=0)",
        folder=run,
    )


def _record_version(run, version):
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps(dict(results, ltzoo_version=version)))


def test_run_of_a_newer_ltzoo_is_refused_older_is_read(run_dir, tmp_path, capsys):
    from ltzoo.run_folder import check_run_dir

    run = shutil.copytree(run_dir, tmp_path / "run")
    _record_version(run, "0.99.0")
    for command in ("eval", "calibrate"):
        _fails(
            [command, str(run)],
            capsys,
            f"written by ltzoo 0.99.0, newer than this ltzoo {__version__}",
            folder=run,
        )
    for older in (
        "0.0.9",
        __version__ + ".post1",
        __version__.rsplit(".", 1)[0] + ".999",
    ):  # same major.minor reads
        _record_version(run, older)
        assert check_run_dir(run) == run
    _record_version(run, "unknown")
    _fails(
        ["eval", str(run)],
        capsys,
        "records ltzoo_version='unknown', which is not a version",
        folder=run,
    )


def test_results_and_checkpoints_record_the_version(run_dir):
    from ltzoo.train.checkpoint import MANIFEST

    assert (
        json.loads((run_dir / "results.json").read_text()).get("ltzoo_version") is None
    )  # written by make_run_dir
    folder = _checkpoint(run_dir.parent / "ckpt" / "step_1")
    assert json.loads((folder / MANIFEST).read_text())["ltzoo_version"] == __version__


# ---- data files -------------------------------------------------------------------------------------
def test_truncated_cifar_npz_is_named(tmp_path, capsys):
    x, y = np.zeros((4, 32, 32, 3), np.uint8), np.arange(4)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x, y=y)
    (tmp_path / "train.npz").write_bytes(_half((tmp_path / "train.npz").read_bytes()))
    _fails(
        ["data", "describe", "cifar100_lt", "--root", str(tmp_path)],
        capsys,
        f"{tmp_path / 'train.npz'} is not a readable npz archive",
        "truncated",
        folder=tmp_path,
    )


def _image_list(root, per_class=(3, 2)):
    """ImageNet-LT-style lists of tiny JPEGs (own split, not the official one)."""
    for part in ("train", "test"):
        rows = []
        for label, n in enumerate(per_class):
            for i in range(n):
                rel = f"{part}/c{label}/{i}.JPEG"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (12, 10), (90 * label, 40, 200)).save(root / rel, "JPEG")
                rows.append(f"{rel} {label}")
        (root / f"ImageNet_LT_{part}.txt").write_text("\n".join(rows) + "\n")
    return root


def test_list_naming_missing_images_fails_at_construction(tmp_path, capsys):
    root = _image_list(tmp_path)
    (root / "train/c0/1.JPEG").unlink()
    (root / "train/c1/0.JPEG").unlink()
    _fails(
        ["data", "describe", "imagenet_lt", "--root", str(root), "--own-split"],
        capsys,
        f"{root / 'ImageNet_LT_train.txt'} lists 2 of 5 images that do not exist",
        str(root / "train/c0/1.JPEG"),
        str(root / "train/c1/0.JPEG"),
        folder=root,
    )


def test_undecodable_image_is_named(tmp_path):
    from ltzoo.data import UnreadableImageError, create_dataset

    root = _image_list(tmp_path)
    bad = root / "train/c0/0.JPEG"
    bad.write_bytes(bad.read_bytes()[:40])
    ds = create_dataset("imagenet_lt", root=root, official_split=False)
    with pytest.raises(
        UnreadableImageError, match=str(bad)
    ) as error:  # the CLI's one line (an InputError)
        ds[0]
    assert isinstance(error.value, ValueError) and isinstance(error.value, OSError)
    ds = create_dataset("imagenet_lt", root=root, official_split=False, skip_corrupt=True)
    with pytest.warns(
        RuntimeWarning, match=f"skipping an unreadable image \\(cannot read image {bad}"
    ):
        assert ds[0][1] == 0


# ---- a full disk --------------------------------------------------------------------------------------
def _full_disk(monkeypatch, name, after=1):
    """``os.fsync`` of the ``after``-th file whose path holds ``name`` fails with ENOSPC (a full disk)."""
    real, seen = os.fsync, []

    def fsync(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            seen.append(fd)
            if len(seen) >= after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def _temporary_files(folder):
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_full_disk_writing_results_keeps_them(run_dir, tmp_path, capsys, monkeypatch):
    run = shutil.copytree(run_dir, tmp_path / "run")
    seen = _full_disk(monkeypatch, "results.json")
    _fails(
        ["eval", str(run), "--tta", "flip"],
        capsys,
        f"cannot write {str(run / 'results.json')!r}: the disk is full",
        folder=run,
    )
    assert seen and not _temporary_files(run)


def test_full_disk_writing_a_checkpoint_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    from ltzoo.train.checkpoint import MANIFEST, verify

    out = tmp_path / "run"
    _full_disk(monkeypatch, MANIFEST, after=2)  # the first checkpoint is sealed, the second is not
    assert (
        main(
            [
                "train",
                "--output-dir",
                str(out),
                "--set",
                "progress=false",
                "--set",
                "stage1.epochs=1",
                "--set",
                "stage2.methods=[crt]",
                "--set",
                "stage2.epochs=1",
                "--set",
                "engine.checkpoint_every_steps=3",
            ]
        )
        == 2
    )
    _one_line(
        capsys.readouterr().err,
        f"cannot write {str(out / 'checkpoints' / 'step_000000006')!r}: the disk is full",
        "the previous checkpoints are intact",
    )
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_000000003"]
    assert verify(out / "checkpoints" / "step_000000003") is None
    assert not _temporary_files(out) and not (out / "results.json").exists()


def test_storage_errors_name_the_file_and_the_condition():
    from ltzoo.errors import storage_error

    error = storage_error(OSError(errno.EROFS, "Read-only file system", "/mnt/x"))
    assert str(error).startswith("cannot write '/mnt/x': the file system is read-only (EROFS)")
    assert (
        storage_error(OSError(errno.EIO, "I/O error")) is None
        and storage_error(ValueError("x")) is None
    )


# ---- the Hub: unreachable, no write access, a bad token ---------------------------------------------
class GuardedHub(FakeHub):
    """The fake Hub, refusing a wrong token (401) and commits to ``org/readonly`` (403)."""

    def route(self, req, method, path, body):
        if req.headers.get("Authorization") != f"Bearer {FAKE_TOKEN}":
            return self.reply(req, 401, {"error": "Invalid credentials in Authorization header"})
        if path.startswith("/api/models/org/readonly/") and (
            "/preupload/" in path or "/commit/" in path
        ):
            return self.reply(
                req, 403, {"error": "You don't have the rights to create a commit in org/readonly"}
            )
        return super().route(req, method, path, body)


@pytest.fixture(scope="module")
def hub():
    server = GuardedHub()
    server.thread.start()
    server.create("org/readonly")
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PUSH_FAILURES = [
    (
        "unreachable",
        "org/x",
        FAKE_TOKEN,
        [
            "push to org/x@main failed at 'create the repository'",
            "could not be reached",
            "nothing was uploaded",
        ],
    ),
    (
        "forbidden",
        "org/readonly",
        FAKE_TOKEN,
        [
            "push to org/readonly@main failed at 'upload'",
            "no write access to org/readonly (HTTP 403",
            "nothing was uploaded",
        ],
    ),
    (
        "bad token",
        "org/x",
        "hf_NotTheRightToken000000000000000000",
        ["the Hub refused the token (HTTP 401", "nothing was uploaded"],
    ),
]


@pytest.mark.parametrize(
    "case, repo_id, token, names", PUSH_FAILURES, ids=[c for c, *_ in PUSH_FAILURES]
)
def test_push_failure_says_what_is_on_the_hub(
    case, repo_id, token, names, hub, run_dir, tmp_path, capsys, monkeypatch
):
    endpoint = f"http://127.0.0.1:{_closed_port()}" if case == "unreachable" else hub.endpoint
    use_hub(monkeypatch, endpoint, tmp_path, token)
    before = _snapshot(run_dir)
    assert main(["push", str(run_dir), "--repo-id", repo_id]) == 2
    out, err = capsys.readouterr()
    _one_line(err, "ltzoo push: error:", *names)
    # what was going to be uploaded was said before anything was sent
    assert "uploading 6 files" in out and f"to {repo_id}, revision main, in one commit" in out
    size = (run_dir / "model.safetensors").stat().st_size
    assert f"model.safetensors  {size:,} bytes" in out
    assert token not in out + err
    assert _snapshot(run_dir) == before
    assert "org/x" not in hub.repos and not any(hub.repos["org/readonly"]["commits"].values())


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import ltzoo.train.run

    def broken(cfg, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(ltzoo.train.run, "run", broken)
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["train", "--output-dir", str(tmp_path / "run")])
