"""benchmarks/compare_records.py: two records' metrics, their difference, and the settings that differ."""

import copy
import json
import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import compare_records  # noqa: E402

CE = REPO_ROOT / "benchmarks/results/cifar10_lt/if100/resnet32/ce.json"


def test_a_schedule_twin_differs_in_the_schedule_and_its_metrics(tmp_path, capsys):
    a = json.loads(CE.read_text())
    b = copy.deepcopy(a)
    b["id"] = "cifar10_lt/if100/resnet32/ce_cosine"
    b["overrides"] += ["stage1.schedule=cosine", "stage1.milestones=[]", "output_dir=elsewhere"]
    b["results"]["settings"]["stage1"].update(schedule="cosine", milestones=[])
    deployed = b["results"]["methods"][b["results"]["deploy"]]
    deployed["top1"], deployed["few"] = 68.78, None
    b["flip"]["top1"] = 70.0
    del b["stage1_resumed_at_step"]
    path_b = tmp_path / "ce_cosine.json"
    path_b.write_text(json.dumps(b))
    assert compare_records.main([str(CE), str(path_b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    top1 = a["results"]["methods"][a["results"]["deploy"]]["top1"]
    assert f"All{'':12}{top1:.2f}     68.78  {68.78 - top1:+7.2f}" in lines
    assert (
        f"All, flip{'':6}{a['flip']['top1']:.2f}     70.00  {70.0 - a['flip']['top1']:+7.2f}"
        in lines
    )
    assert "Few" in " ".join(lines) and any(
        line.startswith("Few") and line.endswith("-") for line in lines
    )
    start = lines.index("settings that differ (A -> B):")
    assert lines[start + 1 :][:2] == [
        f"  stage1.milestones: {json.dumps(a['results']['settings']['stage1']['milestones'])} -> []",
        "  stage1.schedule: multistep -> cosine",
    ]
    assert not any("output_dir" in line or "mixed_precision" in line for line in lines)


def test_keys_one_record_lacks_are_listed_apart_and_a_missing_file_is_named(tmp_path, capsys):
    a = json.loads(CE.read_text())
    b = copy.deepcopy(a)
    b["overrides"] = [o for o in b["overrides"] if not o.startswith("mixed_precision")]
    path_b = tmp_path / "b.json"
    path_b.write_text(json.dumps(b))
    compare_records.main([str(CE), str(path_b)])
    out = capsys.readouterr().out
    assert "settings both hold: identical" in out
    assert "only A states (the other ran its recipe's default): mixed_precision=no" in out
    assert compare_records.main([str(CE), str(tmp_path / "none.json")]) == 2
    assert "none.json is not a file" in capsys.readouterr().err
