"""timm's own model tests on every ltzoo model, with timm's ResNet-50 as the control.

``test_models.py`` here is timm's ``tests/test_models.py`` of the installed timm, unedited: when
this directory is collected, it is taken from that version's source distribution on the package
index (``pip download timm==VERSION --no-binary :all:``), kept in a per-version cache, and copied
here (the copy is not part of the repository). A test of another timm version may check a contract
the installed one does not have, so the version is always the installed one.

timm's tests choose their models at import time with ``timm.list_models(...)``. Here, before that
module is imported, ``timm.list_models`` answers from ltzoo's models (every entrypoint of
``ltzoo.list_models()``) and the control ``resnet50`` only. Each of timm's filters applies to them
as it does to timm's models (name patterns, ``name_matches_cfg``, ``include_tags``,
``pretrained``), except ``module=``: it names the timm modules whose models have
``forward_intermediates`` and the getter ``features_only`` wrapper, and every ltzoo model has both,
so it selects every ltzoo model (and ``resnet50``, whose module ``resnet`` is named).

Only the tests parametrized over ``list_models`` run; the tests of named timm models
(``test_gcvit_batch_consistency``, the swin / naflex ones, ...) are deselected: they are timm's
tests of those models, not of a model contract. The pretrained tests (``list_models(pretrained=True)``)
run on ltzoo's published tags, offline: their Hub repositories are built from the release store
(``weights/``, :func:`ltzoo.release.build`) into a Hugging Face cache of this session. The control
has no pretrained tags here: its weights are downloaded from the Hub, which the suite never reaches.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import timm
from filelock import FileLock
from huggingface_hub import constants
from timm.models import split_model_name_tag

import ltzoo
from ltzoo.models.published import hub_ids
from ltzoo.release import build
from tests.hub_cache import cache_repo

CONTROL = "resnet50"
LTZOO_MODELS = ltzoo.list_models()
TARGETS = [CONTROL, *LTZOO_MODELS]

_timm_list_models = timm.list_models
_timm_list_pretrained = timm.list_pretrained


class _Selected(list):
    """A ``list_models`` answer given to timm's tests: its tests are the ones collected here."""


def list_models(
    filter="",
    module="",
    pretrained=False,
    exclude_filters="",
    name_matches_cfg=False,
    include_tags=None,
):
    """``timm.list_models`` over ltzoo's models and the control (see the module docstring)."""
    args = dict(
        filter=filter,
        pretrained=pretrained,
        exclude_filters=exclude_filters,
        name_matches_cfg=name_matches_cfg,
        include_tags=include_tags,
    )
    chosen = [
        n for n in _timm_list_models(module=module, **args) if split_model_name_tag(n)[0] == CONTROL
    ]
    if pretrained:
        chosen = []  # the control's weights download from the Hub, which the suite does not reach
    chosen += [n for n in _timm_list_models(**args) if split_model_name_tag(n)[0] in LTZOO_MODELS]
    return _Selected(chosen)


def list_pretrained(filter="", exclude_filters=""):
    return list_models(filter, pretrained=True, exclude_filters=exclude_filters, include_tags=True)


TIMM_TESTS = Path(__file__).with_name("test_models.py")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ltzoo" / "timm-tests"


def fetch_timm_tests(version: str = timm.__version__) -> Path:
    """timm's ``tests/test_models.py`` of ``version``, from its source distribution (cached)."""
    cached = CACHE / version / "test_models.py"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / f"{version}.lock")):  # xdist workers collect at the same time
        if cached.is_file():
            return cached
        with tempfile.TemporaryDirectory() as tmp:
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp]
            pip += ["--no-binary", ":all:", f"timm=={version}"]
            done = subprocess.run(pip, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(
                    f"pip download of timm {version}'s sources failed: {done.stderr}"
                )
            (archive,) = Path(tmp).glob("timm-*.tar.gz")
            with tarfile.open(archive) as sources:
                member = sources.getmember(
                    f"{archive.name[: -len('.tar.gz')]}/tests/test_models.py"
                )
                partial = cached.with_suffix(".partial")
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_bytes(sources.extractfile(member).read())
                partial.replace(cached)
        return cached


def place_timm_tests() -> None:
    """Copy the installed timm's test file beside this one, before the directory is listed."""
    source = fetch_timm_tests()
    with FileLock(str(CACHE / "place.lock")):
        if not TIMM_TESTS.is_file() or TIMM_TESTS.read_bytes() != source.read_bytes():
            partial = TIMM_TESTS.with_suffix(".partial")
            shutil.copyfile(source, partial)
            partial.replace(TIMM_TESTS)


place_timm_tests()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """timm's test module is imported (and its decorators call ``list_models``) while it is
    collected: only then do ``timm.list_models`` / ``timm.list_pretrained`` answer from the models
    above; every other module sees timm's own."""
    timm_tests = isinstance(collector, pytest.Module) and collector.path == TIMM_TESTS
    if timm_tests:
        timm.list_models, timm.list_pretrained = list_models, list_pretrained
    try:
        yield
    finally:
        if timm_tests:
            timm.list_models, timm.list_pretrained = _timm_list_models, _timm_list_pretrained


TIMM_MARKERS = (
    "base",
    "forward",
    "backward",
    "cfg",
    "cfg_nonstd",
    "torchscript",
    "features",
    "fxforward",
    "fxbackward",
    "timeout(seconds): per-test time limit (pytest-timeout)",
)


def pytest_configure(config):
    for marker in TIMM_MARKERS:
        config.addinivalue_line("markers", marker if ":" in marker else f"{marker}: timm's mark")


def _over_listed_models(item) -> bool:
    for mark in item.function.pytestmark if hasattr(item.function, "pytestmark") else ():
        if mark.name == "parametrize" and "model_name" in str(mark.args[0]):
            # an empty selection (timm's non-standard or test_* models) leaves no model to test
            listed = isinstance(mark.args[1], _Selected)
            return listed and bool(mark.args[1]) and "model_name" in item.callspec.params
    return False


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    keep, drop = [], []
    for item in items:
        inside = str(item.path).startswith(here)
        (keep if not inside or _over_listed_models(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def published_hub_cache(tmp_path_factory) -> Path:
    """An offline Hugging Face cache holding every published ltzoo tag, built from ``weights/``."""
    cache = tmp_path_factory.mktemp("hub_cache")
    ids = hub_ids()
    for folder in build(tmp_path_factory.mktemp("release")):
        cache_repo(cache, ids[folder.name], folder, commit="0" * 40)
    return cache


@pytest.fixture(autouse=True)
def _offline_hub(request, monkeypatch):
    """The pretrained tests read the published tags from :func:`published_hub_cache`, offline
    (huggingface_hub reads these settings from ``constants`` at each download)."""
    if "pretrained" not in request.node.name:
        return
    cache = request.getfixturevalue("published_hub_cache")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
