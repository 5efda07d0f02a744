"""The guide "Train on your own images" (docs/own-images.md), command by command, on a generated tree of JPEGs.

Four classes of coloured shapes with long-tailed counts (40 / 20 / 10 / 5 training images, 6 test
images each). The train line runs with a shorter schedule at 32x32 (2 CPU cores); the push and the
hf-hub: load go to the fake Hub of ``tests/test_hub_push.py`` on 127.0.0.1 (``use_hub``).
"""

import json
import random
import re
import shlex
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ltzoo.cli import main
from tests.conftest import REPO_ROOT
from tests.test_hub_push import hub, use_hub  # noqa: F401  (hub: the fake Hub fixture)

SHAPES = {
    "circle": (220, 40, 40),
    "cross": (230, 200, 30),
    "square": (40, 200, 40),
    "triangle": (40, 60, 220),
}
TRAIN = {"circle": 40, "square": 20, "triangle": 10, "cross": 5}
TEST_PER_CLASS = 6
FAST = [
    "--set",
    "stage1.epochs=3",
    "--set",
    "stage2.epochs=2",
    "--set",
    "data.transform_kwargs.img_size=32",
]


def readme_commands():
    text = (REPO_ROOT / "docs" / "own-images.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line) for line in block.strip().splitlines()]


def shape_image(kind: str, rng: random.Random, size: int = 40) -> Image.Image:
    image = Image.new("RGB", (size, size), tuple(rng.randint(0, 60) for _ in range(3)))
    draw, color = ImageDraw.Draw(image), SHAPES[kind]
    r = rng.randint(9, 15)
    x, y = rng.randint(r, size - r), rng.randint(r, size - r)
    if kind == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    elif kind == "square":
        draw.rectangle([x - r, y - r, x + r, y + r], fill=color)
    elif kind == "triangle":
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=color)
    else:
        draw.line([x - r, y, x + r, y], fill=color, width=5)
        draw.line([x, y - r, x, y + r], fill=color, width=5)
    return image


def make_tree(root: Path) -> None:
    rng = random.Random(0)
    for kind, n in TRAIN.items():
        for split, count in (("train", n), ("test", TEST_PER_CLASS)):
            (root / split / kind).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shape_image(kind, rng).save(root / split / kind / f"{i:04d}.jpg", quality=90)


def test_every_command_of_the_section(hub, tmp_path, monkeypatch, capsys):  # noqa: F811
    commands = readme_commands()
    assert [c[:2] for c in commands] == [
        ["ltzoo", "data"],
        ["ltzoo", "train"],
        ["ltzoo", "calibrate"],
        ["ltzoo", "report"],
        ["ltzoo", "predict"],
        ["ltzoo", "push"],
        ["ltzoo", "predict"],
    ]
    make_tree(tmp_path / "my_images")
    (tmp_path / "recipes").symlink_to(REPO_ROOT / "recipes")
    monkeypatch.chdir(tmp_path)
    use_hub(monkeypatch, hub.endpoint, tmp_path)
    outputs = []
    for argv in commands:
        args = argv[1:] + (FAST + ["--set", "progress=false"] if argv[1] == "train" else [])
        assert main(args) == 0, argv
        outputs.append(capsys.readouterr().out)
    described, trained, calibrated, reported, predicted, pushed, from_hub = outputs

    assert "folder_lt: 75 training images in 4 classes" in described and "ratio 8.0" in described
    assert re.search(r"cross\s+5\n", described) and re.search(r"circle\s+40\n", described)

    run = tmp_path / "runs" / "my_images"
    results = json.loads((run / "results.json").read_text())
    assert results["class_names"] == sorted(SHAPES) and results["num_test"] == 4 * TEST_PER_CLASS
    assert results["class_counts"] == [
        32,
        4,
        16,
        8,
    ]  # 80 % of each class after the validation carve-out
    assert results["deploy"] == "ncm" and "crt" in trained and "ncm" in trained
    config = json.loads((run / "config.json").read_text())
    assert (
        config["pretrained_cfg"]["input_size"] == [3, 32, 32]
        and config["pretrained_cfg"]["crop_pct"] == 0.875
    )

    # calibrate fitted T on the validation split; NCM's cosine scores become probabilities
    temperature = float(re.search(r"temperature T = ([0-9.]+)", calibrated).group(1))
    assert "fitted on the" in calibrated and "validation" in calibrated and temperature < 0.5

    assert (
        tmp_path / "runs" / "my_images-report" / "report.html"
    ).is_file() and "report:" in reported

    records = [json.loads(line) for line in Path("predictions.jsonl").read_text().splitlines()]
    assert len(records) == 4 * TEST_PER_CLASS and len(predicted.splitlines()) == 4 * TEST_PER_CLASS
    assert all(len(r["topk"]) == 3 and r["label"] in SHAPES for r in records)
    # predict preprocesses as evaluation did (resize + center crop 0.875 from the stored pretrained_cfg)
    # and scores with the calibrated model: the test top-1 calibrate measured after fitting (its
    # prior shift may move a decision), which is the run's before calibrating
    top1 = 100.0 * sum(r["label"] == Path(r["image"]).parent.name for r in records) / len(records)
    scores = json.loads((run / "calibration.json").read_text())["calibration"]["scores"]
    assert scores["before"]["top1"] == pytest.approx(results["methods"]["ncm"]["top1"])
    assert top1 == pytest.approx(scores["after"]["top1"])

    repo = hub.repos["your-name/my-images-lt"]
    assert {"model.safetensors", "config.json", "README.md", "results.json"} <= set(
        repo["commits"][repo["refs"]["main"]]
    )
    assert "pushed runs/my_images to your-name/my-images-lt" in pushed
    by_image = {r["image"]: r for r in records}
    hub_lines = from_hub.strip().splitlines()
    assert len(hub_lines) == 4 * TEST_PER_CLASS
    for line in hub_lines:
        image, top = line.split(": ", 1)
        assert top == ", ".join(
            f"{t['label']} {t['probability']:.4f}" for t in by_image[image]["topk"]
        )
