"""A real push and download through huggingface_hub's own client, against a small fake Hub.

``FakeHub`` implements just the part of the Hub's HTTP API that huggingface_hub 2.x uses for
``create_repo``, ``create_branch``, ``upload_folder`` (``validate-yaml``, ``preupload``, the NDJSON
``commit``), ``model_info`` and ``hf_hub_download`` (HEAD + GET with the ``X-Repo-Commit`` /
``ETag`` headers). It listens on 127.0.0.1 only, in a thread, and stops at the end of the module.
The client runs in a subprocess because ``HF_ENDPOINT`` is read when huggingface_hub is imported
(this is the route a user takes); ``HF_HUB_DISABLE_XET=1`` keeps the upload on the plain (non-Xet)
commit path. Other tests talk to a fake Hub in their own process through :func:`use_hub`, which
sets what those variables set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import torch
from safetensors.torch import save_file

from ltzoo.hub import load_pretrained
from ltzoo.release import ReleaseStore, build, default_store
from tests.conftest import REPO_ROOT
from tests.test_hub_local import FAKE_TOKEN, make_run_dir, reference_logits

MAX_BODY = 64 << 20


class FakeHub:
    """Repositories as ``{repo_id: {"private", "refs": {branch: sha}, "commits": {sha: {path: bytes}}}}``."""

    def __init__(self):
        self.repos, self.requests, self.lock = {}, [], threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_HEAD(self):
                hub.handle(self, "HEAD")

            def do_GET(self):
                hub.handle(self, "GET")

            def do_POST(self):
                hub.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def commit(self, repo_id, files, branch="main", deleted=()):
        repo = self.repos[repo_id]
        tree = dict(repo["commits"].get(repo["refs"].get(branch), {}))
        tree.update(files)
        for path in deleted:
            tree.pop(path, None)
        sha = hashlib.sha1(
            repr((repo_id, branch, len(repo["commits"]), sorted(tree))).encode()
        ).hexdigest()
        repo["commits"][sha], repo["refs"][branch] = tree, sha
        return sha

    def create(self, repo_id, private=False):
        self.repos[repo_id] = {"private": private, "refs": {}, "commits": {}}
        return self.commit(repo_id, {})

    # -- HTTP -------------------------------------------------------------------------------
    def handle(self, req, method):
        path, body = unquote(urlsplit(req.path).path), b""
        size = int(req.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            return self.reply(req, 413, {"error": "too large"})
        if size:
            body = req.rfile.read(size)
        with self.lock:
            self.requests.append((method, req.path, {k.lower(): v for k, v in req.headers.items()}))
            try:
                self.route(req, method, path, body)
            except Exception as error:  # a bug in the fake: say so instead of hanging the client
                self.reply(req, 500, {"error": f"fake hub: {error!r}"})

    def reply(self, req, status, payload=None, headers=None, raw=None, head=False):
        data = raw if raw is not None else json.dumps(payload).encode()
        req.send_response(status)
        for key, value in {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            **(headers or {}),
        }.items():
            req.send_header(key, value)
        req.end_headers()
        if not head:
            req.wfile.write(data)

    def missing(self, req, code, message, head=False, commit=None):
        headers = {
            "X-Error-Code": code,
            "X-Error-Message": message,
            **({"X-Repo-Commit": commit} if commit else {}),
        }
        self.reply(
            req, 404 if code != "RepoNotFound" else 401, {"error": message}, headers, head=head
        )

    def find(self, req, repo_id, revision, head=False):
        repo = self.repos.get(repo_id)
        if repo is None or (repo["private"] and not req.headers.get("Authorization")):
            return self.missing(
                req, "RepoNotFound", f"Repository Not Found for url: {repo_id}", head
            )
        sha = repo["refs"].get(revision, revision if revision in repo["commits"] else None)
        if sha is None:
            return self.missing(req, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        return sha

    def route(self, req, method, path, body):
        head = method == "HEAD"
        if method == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}"
            if repo_id in self.repos:
                return self.reply(
                    req,
                    409,
                    {
                        "error": "You already created this model repo",
                        "url": f"{self.endpoint}/{repo_id}",
                    },
                )
            self.create(repo_id, private=payload.get("visibility") == "private")
            return self.reply(req, 200, {"url": f"{self.endpoint}/{repo_id}", "name": repo_id})
        if method == "POST" and path == "/api/validate-yaml":
            return self.reply(req, 200, {"errors": [], "warnings": []})
        match = re.fullmatch(
            r"/api/models/([^/]+/[^/]+)(?:/(preupload|commit|branch|revision)/(.+))?", path
        )
        if match:
            repo_id, action, revision = match.groups()
            sha = self.find(
                req, repo_id, revision if action in ("preupload", "commit", "revision") else "main"
            )
            if sha is None:
                return None
            if action == "preupload":
                files = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in json.loads(body)["files"]
                ]
                return self.reply(req, 200, {"files": files})
            if action == "commit":
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                files = {
                    op["value"]["path"]: base64.b64decode(op["value"]["content"])
                    for op in lines
                    if op["key"] == "file"
                }
                deleted = [op["value"]["path"] for op in lines if op["key"] == "deletedFile"]
                new = self.commit(repo_id, files, branch=revision, deleted=deleted)
                return self.reply(
                    req,
                    200,
                    {
                        "commitUrl": f"{self.endpoint}/{repo_id}/commit/{new}",
                        "commitOid": new,
                        "pullRequestUrl": None,
                    },
                )
            if action == "branch":
                if revision in self.repos[repo_id]["refs"]:
                    return self.reply(req, 409, {"error": f"branch {revision} already exists"})
                self.repos[repo_id]["refs"][revision] = sha
                return self.reply(req, 200, {})
            tree = self.repos[repo_id]["commits"][sha]
            return self.reply(
                req,
                200,
                {
                    "id": repo_id,
                    "sha": sha,
                    "private": self.repos[repo_id]["private"],
                    "siblings": [{"rfilename": p, "size": len(b)} for p, b in sorted(tree.items())],
                },
            )
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match and method in ("GET", "HEAD"):
            repo_id, revision, name = match.groups()
            sha = self.find(req, repo_id, revision, head)
            if sha is None:
                return None
            data = self.repos[repo_id]["commits"][sha].get(name)
            if data is None:
                return self.missing(
                    req, "EntryNotFound", f"{name} does not exist on {revision}", head, commit=sha
                )
            headers = {
                "X-Repo-Commit": sha,
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "Content-Type": "application/octet-stream",
            }
            return self.reply(req, 200, headers=headers, raw=data, head=head)
        return self.reply(req, 404, {"error": f"fake hub does not serve {method} {path}"})


@pytest.fixture(scope="module")
def hub():
    server = FakeHub()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)


def use_hub(monkeypatch, endpoint: str, tmp_path, token: str = FAKE_TOKEN) -> None:
    """huggingface_hub in this process talks to ``endpoint`` with ``token``, as with ``HF_ENDPOINT``,
    ``HF_TOKEN``, ``HF_HUB_DISABLE_XET=1`` and an empty ``HF_HUB_CACHE`` set before its import."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_TOKEN", token)


CLIENT = r"""
import json, sys, torch
from huggingface_hub import HfApi
from safetensors.torch import load_file
import ltzoo, timm
from ltzoo.cli import main

args = json.loads(sys.argv[1])
assert main(["push", args["run_dir"], "--repo-id", "org/digits", "--private"]) == 0
model = ltzoo.create_model("lt_classifier", backbone="resnet20", head="tau_norm", head_kwargs={"tau": 0.7},
                           num_classes=100)
model.calibration.set(temperature=2.0)
ltzoo.push_to_hub(model.eval(), "org/cifar", revision="v1")
ref = load_file(args["reference"])
x = ref["x_digits"]
for load in (ltzoo.create_model, timm.create_model):
    got = load("hf-hub:org/digits", pretrained=True).eval()
    assert torch.equal(got(x), ref["digits"]), "hf-hub logits differ from the pushed model's"
cifar = timm.create_model("hf-hub:org/cifar@v1", pretrained=True).eval()
assert torch.equal(cifar(ref["x_cifar"]), model(ref["x_cifar"])), "hf-hub@v1 logits differ"
hub_model = torch.hub.load(args["repo_root"], "resnet32_iwb", source="local", pretrained=True,
                           pretrained_cfg_overlay=dict(hf_hub_id="org/tagged")).eval()
assert torch.equal(hub_model(ref["x_cifar"]), ref["tagged"]), "torch.hub logits differ"
try:
    ltzoo.create_model("hf-hub:org/pickled", pretrained=True)
    raise SystemExit("a pickle-only repository was loaded")
except Exception as error:  # huggingface_hub's entry-not-found for model.safetensors
    assert "model.safetensors" in str(error), error
info = HfApi().model_info("org/digits")
print("FILES", json.dumps(sorted(s.rfilename for s in info.siblings)), info.private)
"""


@pytest.mark.slow
def test_push_and_download_through_huggingface_hub(hub, tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    x_digits, x_cifar = torch.randn(4, 1, 8, 8), torch.randn(2, 3, 32, 32)
    # org/tagged: a mirror of the released resnet32_iwb.cifar100_lt_r100; torch.hub reaches it through
    # an hf_hub_id overlay, and the release's SHA-256 is checked on the way
    (released,) = build(
        tmp_path / "released", ReleaseStore(default_store()), "resnet32_iwb.cifar100_lt_r100"
    )
    tagged_model = load_pretrained(released).eval()
    hub.create("org/tagged")
    hub.commit("org/tagged", {p.name: p.read_bytes() for p in released.iterdir()})
    with torch.no_grad():
        tagged = tagged_model(x_cifar)
    hub.create("org/pickled")
    hub.commit(
        "org/pickled",
        {"config.json": (run_dir / "config.json").read_bytes(), "pytorch_model.bin": b"not read"},
    )
    save_file(
        {
            "x_digits": x_digits,
            "x_cifar": x_cifar,
            "digits": reference_logits(run_dir, x_digits),
            "tagged": tagged,
        },
        str(tmp_path / "reference.safetensors"),
    )
    env = dict(
        os.environ,
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_CACHE=str(tmp_path / "cache"),
        HF_HOME=str(tmp_path / "home"),
        HF_TOKEN=FAKE_TOKEN,
        HF_HUB_VERBOSITY="debug",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.pop("HF_HUB_OFFLINE", None)
    args = json.dumps(
        {
            "run_dir": str(run_dir),
            "reference": str(tmp_path / "reference.safetensors"),
            "repo_root": str(REPO_ROOT),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, args], env=env, capture_output=True, text=True, timeout=120
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    digits = hub.repos["org/digits"]
    files = digits["commits"][digits["refs"]["main"]]
    expected = {
        "README.md",
        "config.json",
        "config.yaml",
        "model.safetensors",
        "per_class_accuracy.png",
        "results.json",
    }
    assert set(files) == expected and digits["private"]
    assert f"FILES {json.dumps(sorted(expected))} True" in log
    assert "v1" in hub.repos["org/cifar"]["refs"]
    assert not any(
        path.endswith((".bin", ".pth", ".pkl"))
        for repo in hub.repos.values()
        for tree in repo["commits"].values()
        for path in tree
        if repo is not hub.repos["org/pickled"]
    )
    assert not any("pytorch_model.bin" in path for _, path, _ in hub.requests), (
        "the pickle was requested"
    )
    # the token went only where huggingface_hub puts it: the Authorization header
    assert any(h.get("authorization") == f"Bearer {FAKE_TOKEN}" for _, _, h in hub.requests)
    assert FAKE_TOKEN not in log
    for repo in hub.repos.values():
        for tree in repo["commits"].values():
            assert not any(FAKE_TOKEN.encode() in data for data in tree.values())

    from huggingface_hub import ModelCard

    (tmp_path / "README.md").write_bytes(files["README.md"])
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "timm" and {"long-tailed", "digits_lt"} <= set(card.data.tags)
    metrics = {
        m["name"]: m["value"]
        for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    }
    assert metrics == {
        "Top-1 All": 61.0,
        "Top-1 Many": 95.0,
        "Top-1 Medium": 60.5,
        "Top-1 Few": 30.25,
    }
    assert "![per-class accuracy](per_class_accuracy.png)" in card.text
