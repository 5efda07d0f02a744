"""Data roots a user has: the LTZOO_DATA_ROOT rule (ltzoo/data/roots.py), the missing-root error, and
CIFAR-100 downloaded through torchvision from a loopback HTTP server, md5-checked, on first use."""

import functools
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest

from ltzoo.data import create_dataset
from ltzoo.data.roots import resolve_root
from ltzoo.train.assemble import build_datasets
from ltzoo.train.config import load_config
from tests.conftest import REPO_ROOT


def test_ltzoo_data_root_moves_the_project_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("LTZOO_DATA_ROOT", raising=False)
    assert resolve_root("data/cifar100") == "data/cifar100"
    assert resolve_root(None) is None
    monkeypatch.setenv("LTZOO_DATA_ROOT", str(tmp_path / "store"))
    assert resolve_root("data/cifar100") == str(tmp_path / "store" / "cifar100")
    assert resolve_root("data/packed/cifar100") == str(tmp_path / "store" / "packed" / "cifar100")
    # only roots under the project's data/ move; resolving twice changes nothing
    assert resolve_root("my_images") == "my_images"
    assert resolve_root("database/x") == "database/x"
    assert resolve_root(str(tmp_path / "data" / "x")) == str(tmp_path / "data" / "x")
    assert resolve_root(resolve_root("data/cifar100")) == resolve_root("data/cifar100")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LTZOO_DATA_ROOT", "relative_store")
    assert resolve_root("data/cifar10") == str(tmp_path / "relative_store" / "cifar10")


def test_a_missing_root_says_how_to_download_and_where_to_point(monkeypatch, tmp_path):
    monkeypatch.delenv("LTZOO_DATA_ROOT", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("cifar100_lt", root=tmp_path / "nowhere")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "train.npz") in msg
    assert str(tmp_path / "nowhere" / "cifar-100-python") in msg
    assert "--set data.download=true" in msg and "set LTZOO_DATA_ROOT" in msg
    monkeypatch.setenv("LTZOO_DATA_ROOT", str(tmp_path / "store"))
    with pytest.raises(FileNotFoundError) as err:
        create_dataset("cifar10_lt", root="data/cifar10")
    msg = str(err.value)
    assert repr(str(tmp_path / "store" / "cifar10")) in msg
    assert f"LTZOO_DATA_ROOT={tmp_path / 'store'} is set" in msg
    with pytest.raises(FileNotFoundError, match="root=None"):
        create_dataset("cifar10_lt")


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def _cifar100_archive(rng) -> tuple:
    """``(tar.gz bytes, {member: bytes}, train_x, train_y)``: CIFAR-100 in torchvision's real format
    (``cifar-100-python/{train,test,meta}`` pickles, R, G, B planes), 3 images per class."""
    names = [f"class{i:02d}" for i in range(100)]

    def split(per_class):
        y = np.repeat(np.arange(100), per_class)
        x = rng.integers(0, 256, (len(y), 32, 32, 3), dtype=np.uint8)
        flat = x.transpose(0, 3, 1, 2).reshape(len(y), 3072)
        return {"data": flat, "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist()}, x, y

    train, train_x, train_y = split(3)
    test, _, _ = split(1)
    meta = {"fine_label_names": names, "coarse_label_names": [f"super{i}" for i in range(20)]}
    members = {"train": _pickled(train), "test": _pickled(test), "meta": _pickled(meta)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), members, train_x, train_y


@pytest.fixture
def cifar100_server(tmp_path, monkeypatch):
    """torchvision's CIFAR100 pointed at a loopback HTTP server holding a small archive in the real
    format, with the archive's and the files' md5 sums in the class's constants; yields the list of
    requested paths."""
    import torchvision.datasets as tv

    served = tmp_path / "served"
    served.mkdir()
    archive, members, train_x, train_y = _cifar100_archive(np.random.default_rng(0))
    (served / "cifar-100-python.tar.gz").write_bytes(archive)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def md5(data):
        return hashlib.md5(data).hexdigest()

    port = server.server_address[1]
    monkeypatch.setattr(tv.CIFAR100, "url", f"http://127.0.0.1:{port}/cifar-100-python.tar.gz")
    monkeypatch.setattr(tv.CIFAR100, "tgz_md5", md5(archive))
    monkeypatch.setattr(tv.CIFAR100, "train_list", [["train", md5(members["train"])]])
    monkeypatch.setattr(tv.CIFAR100, "test_list", [["test", md5(members["test"])]])
    monkeypatch.setattr(tv.CIFAR100, "meta", {**tv.CIFAR100.meta, "md5": md5(members["meta"])})
    try:
        yield requests, train_x, train_y, served
    finally:
        server.shutdown()
        server.server_close()


def test_cifar100_downloads_into_the_resolved_root_once(cifar100_server, tmp_path, monkeypatch):
    requests, train_x, train_y, _ = cifar100_server
    monkeypatch.setenv("LTZOO_DATA_ROOT", str(tmp_path / "store"))
    ds = create_dataset("cifar100_lt", root="data/cifar100", imbalance=3, download=True)
    folder = tmp_path / "store" / "cifar100"
    assert sorted(p.name for p in (folder / "cifar-100-python").iterdir()) == [
        "meta",
        "test",
        "train",
    ]
    assert (folder / "cifar-100-python.tar.gz").is_file()
    assert any(path.endswith("cifar-100-python.tar.gz") for path in requests)
    assert ds.classes == [f"class{i:02d}" for i in range(100)]
    assert ds.class_counts[0] == 3 and ds.class_counts[-1] == 1
    first = int(np.flatnonzero(ds.targets == 0)[0])
    assert any(np.array_equal(ds.data[first], img) for img in train_x[train_y == 0])
    # the files are there and their md5 sums match: no second download
    count = len(requests)
    again = create_dataset(
        "cifar100_lt", root="data/cifar100", split="test", imbalance=3, download=True
    )
    assert len(requests) == count and len(again) == 100


def test_a_damaged_download_is_refused_by_its_md5(cifar100_server, tmp_path, monkeypatch):
    _, _, _, served = cifar100_server
    archive = served / "cifar-100-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    monkeypatch.delenv("LTZOO_DATA_ROOT", raising=False)
    with pytest.raises(RuntimeError, match="corrupted"):
        create_dataset("cifar100_lt", root=tmp_path / "cifar100", download=True)
    assert not (tmp_path / "cifar100" / "cifar-100-python").exists()


def test_data_download_in_a_recipe_fetches_on_first_use(cifar100_server, tmp_path, monkeypatch):
    """``--set data.download=true`` on a CIFAR-100-LT recipe builds its datasets from the download."""
    requests = cifar100_server[0]
    monkeypatch.delenv("LTZOO_DATA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    recipe = REPO_ROOT / "recipes" / "cifar100_lt" / "ce.yaml"
    with pytest.raises(FileNotFoundError, match="data.download=true"):
        build_datasets(load_config(recipe))
    assert not requests
    cfg = load_config(recipe, ["data.download=true", "data.imbalance=3"])
    splits = build_datasets(cfg)
    assert (tmp_path / "data" / "cifar100" / "cifar-100-python" / "train").is_file()
    assert len(splits["test"]) == 100 and splits["train"].classes[0] == "class00"
    assert os.path.isfile(tmp_path / "data" / "cifar100" / "cifar-100-python.tar.gz")
