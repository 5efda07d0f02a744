"""The README's promises: its first two commands, every snippet, the generated results table, the
feature table naming every registered component, and its length."""

import re
import shlex

import torch

import ltzoo
from ltzoo.cli import main
from ltzoo.data import DATASETS
from ltzoo.data.samplers import SAMPLERS
from ltzoo.heads import HEADS
from ltzoo.losses import LOSSES
from ltzoo.release import ReleaseStore, build, default_store, push
from ltzoo.train.config import RunConfig, load_config, load_yaml, to_dict
from tests import test_hub_push
from tests.conftest import REPO_ROOT
from tests.test_docs import reference
from tests.test_hub_push import use_hub

hub = test_hub_push.hub  # the loopback Hub stand-in fixture
README = (REPO_ROOT / "README.md").read_text()


def test_readme_commands_train_the_default_recipe_and_run_what_ci_runs(capsys):
    """The README's first block: `ltzoo train` with no arguments is the embedded default recipe (the
    session's ``digits_run`` trains it), and the test command is the one `.ci/run` runs."""
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    commands = [shlex.split(line.split("&&")[-1]) for line in block]
    train = next(c for c in commands if c[0] == "ltzoo")
    assert main([*train[1:], "--print-config"]) == 0
    assert load_yaml(capsys.readouterr().out) == to_dict(RunConfig())
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    tests = [line for line in block if "pytest" in line]
    assert len(tests) == 1 and tests[0] in ci


def test_readme_is_short():
    assert len(README.splitlines()) < 200


def test_released_table_is_generated_from_the_release_store():
    block = README[README.index("<!-- released:begin") : README.index("<!-- released:end -->")]
    assert reference.released_summary() in block
    # every released model's top-1 is in its row: a plain tag's architecture's, a recipe tag's own
    rows = {line.split(" |")[0]: line for line in block.splitlines() if line.startswith("| `")}
    store = ReleaseStore(default_store())
    for name in store.names():
        arch, tag = name.split(".")
        recipe = tag.split("cifar")[0]
        row = rows[f"| `{arch}.{recipe}*`" if recipe else f"| `{arch}`"]
        assert f"| {store.entry(name)['metrics']['top1']:.2f} / " in row


def test_readme_generated_blocks_are_up_to_date():
    # `python docs/reference.py --readme` rewrites them; the committed README must equal its output
    assert reference.update_readme() == README


def test_ablation_table_is_the_committed_one():
    block = README[README.index("<!-- ablation:begin") : README.index("<!-- ablation:end -->")]
    table = reference.strongest_ablation()
    assert table in block and len(table.splitlines()) >= 7  # header, rule and the five steps


def test_feature_table_names_every_registered_component():
    table = README[README.index("## What is in it") : README.index("## Documentation")]
    names = set(re.findall(r"`([a-z0-9_]+)`", table))
    for registry in (LOSSES, SAMPLERS, DATASETS, HEADS):
        missing = set(registry.names()) - names
        assert not missing, missing
    assert set(ltzoo.list_methods()) - {"ce"} <= names


def test_python_snippet_runs(digits_run, hub, tmp_path, monkeypatch):
    """The quick start's Python block, run as written from a folder holding a clone's hubconf.py and a
    trained ``runs/digits_lt``; the released weights come from a loopback Hub holding the release."""
    run_dir, _ = digits_run
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "digits_lt").symlink_to(run_dir)
    (tmp_path / "hubconf.py").symlink_to(REPO_ROOT / "hubconf.py")
    use_hub(monkeypatch, hub.endpoint, tmp_path)
    out = tmp_path / "release"
    build(out, ReleaseStore(default_store()), "resnet32_iwb.*")
    push(out, "ltzoo", report=lambda line: None)
    monkeypatch.chdir(tmp_path)
    quick_start = README[README.index("## Quick start") : README.index("### An ltzoo model")]
    (code,) = re.findall(r"```python\n(.*?)```", quick_start, re.S)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["probabilities"].shape == (8, 100)
    assert torch.allclose(scope["probabilities"].sum(-1), torch.ones(8))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(scope["from_hub"].eval()(x), scope["model"](x))
    assert scope["trained"].num_classes == 10 and scope["custom"].num_classes == 10


def test_default_recipe_file_is_the_embedded_default():
    assert load_config(REPO_ROOT / "recipes" / "digits_lt" / "two_stage.yaml") == RunConfig()


def test_timm_backbone_snippet_prints_what_it_says(capsys):
    """The README's "ltzoo model as a timm backbone" snippet runs and prints its comments."""
    part = README.split("### An ltzoo model as a timm backbone", 1)[1]
    code = re.search(r"```python\n(.*?)```", part, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines() == expected


def test_training_block_commands_resolve_to_valid_recipes(capsys, monkeypatch, tmp_path):
    """Each line of the README's training block is a valid command: run with ``--print-config``
    (which validates the recipe and every override, then stops), and the resolved recipe says what
    the line claims (the download flag, the shared encoder, the N-GPU recipe)."""
    section = README[README.index("### Training") : README.index("## Results at a glance")]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1).strip().splitlines()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").symlink_to(REPO_ROOT / "recipes")
    resolved = []
    for line in block:
        argv = shlex.split(line.split("#")[0])
        args = argv[argv.index("ltzoo.train") + 1 :] if argv[0] == "accelerate" else argv[2:]
        assert argv[0] == "accelerate" or argv[:2] == ["ltzoo", "train"], line
        assert main(["train", *args, "--print-config"]) == 0, line
        resolved.append(load_yaml(capsys.readouterr().out))
    assert (
        resolved[0]["data"]["download"] is True and resolved[0]["data"]["root"] == "data/cifar100"
    )
    assert resolved[1]["stage1"]["from_run"] == "runs/ce" and resolved[1]["stage2"]["methods"] == [
        "lws"
    ]
    assert resolved[2]["data"]["dataset"] == "imagenet_lt"
