"""benchmarks/reproduce.py: the plan's rows and order, the cost model against the measured records,
the scheduler (side by side, encoders first, records written at once, time limit, failures) on fake
rows that only sleep, and one real tiny run end to end (digits: an encoder and a stage-2 row on it)."""

import json
import math
import shlex
import sys
import time

import pytest

from tests.conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import reproduce  # noqa: E402
from reproduction import costs, records  # noqa: E402
from reproduction.plan import GPU_BACKBONES, PLAN, Row  # noqa: E402
from reproduction.runner import Job, Outcome, Runner  # noqa: E402

from ltzoo.train.config import load_config  # noqa: E402
from ltzoo.train.run import cpu_computes_bf16  # noqa: E402
from ltzoo.train.stage2 import resolve  # noqa: E402

COMMITTED = BENCHMARKS / "results"
DIGITS = "recipes/digits_lt/two_stage.yaml"

# a row that only sleeps: argv run_dir seconds [paths to look at]; writes what it saw and when,
# then results.json (exit 0), or exits 143 on SIGTERM like ltzoo train, or exits 3 when seconds < 0
FAKE = r"""
import json, os, signal, sys, time
run_dir, seconds, watch = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
os.makedirs(run_dir, exist_ok=True)
seen = {"start": time.time(), "at_start": {w: os.path.exists(w) for w in watch}}
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(time.time()))
if seconds < 0:
    print("something broke in this row")
    sys.exit(3)
end = time.time() + seconds
while time.time() < end and not stopped:
    time.sleep(0.02)
seen.update(end=time.time(), at_end={w: os.path.exists(w) for w in watch}, sigterm=bool(stopped))
json.dump(seen, open(os.path.join(run_dir, "fake.json"), "w"))
if stopped:
    sys.exit(143)
metrics = {"top1": 50.0, "many": None, "medium": 60.0, "few": 40.0, "per_class_std": 5.0}
json.dump({"dataset": "digits_lt", "deploy": "stage1", "methods": {"stage1": metrics},
           "protocol": {"model": "last epoch", "tta": "none"}, "seconds": {"total": seconds}},
          open(os.path.join(run_dir, "results.json"), "w"))
"""


def digits_row(name, encoder=None, **kwargs):
    return Row("digits_lt", 20, "resnet32", name, name.upper(), DIGITS, encoder=encoder, **kwargs)


def fake_command(work, seconds, watch=None):
    """row -> the FAKE command; ``seconds[name]`` how long each row sleeps, ``watch[name]`` the rows
    whose records it looks for."""
    watch = watch or {}

    def command(row):
        paths = [
            str(work / "results" / f"{row.id.rsplit('/', 1)[0]}/{w}.json")
            for w in watch.get(row.name, [])
        ]
        return [
            sys.executable,
            "-c",
            FAKE,
            str(work / "runs" / row.id),
            str(seconds[row.name]),
            *paths,
        ]

    return command


def run_fake(work, plan, seconds, *extra, watch=None):
    argv = [
        "--out",
        str(work / "runs"),
        "--results",
        str(work / "results"),
        "--device",
        "cpu",
        *extra,
    ]
    return reproduce.main(argv, plan=plan, command=fake_command(work, seconds, watch))


def seen(work, row):
    return json.loads((work / "runs" / row.id / "fake.json").read_text())


# ---- the plan ---------------------------------------------------------------------------------------
def test_paper_backbones_at_if100_come_first_then_if50_then_resnet32_at_if100_50_10():
    blocks = [(r.backbone in GPU_BACKBONES, r.dataset, r.imbalance) for r in PLAN]
    assert blocks[:6] == [(True, "cifar100_lt", 100)] * 6
    assert blocks[6:12] == [(True, "cifar100_lt", 50)] * 6
    assert {r.backbone for r in PLAN[12:]} == {"resnet32"}
    assert [
        r.imbalance for r in PLAN if r.dataset == "cifar100_lt" and r.backbone == "resnet32"
    ] == [100] * 22 + [50] * 18 + [10] * 18  # IF 100 adds the strongest recipe and its ablation
    assert PLAN.index(next(r for r in PLAN if r.dataset == "cifar10_lt")) == 70
    # both paper encoders before any stage-2 row, so two can train side by side
    assert [r.id for r in PLAN[:2]] == [
        "cifar100_lt/if100/resnet32_x8/ce",
        "cifar100_lt/if100/resnet34_cifar/ce",
    ]


def test_every_stage2_row_reuses_the_ce_encoder_of_its_own_block_listed_before_it():
    index = {r.id: i for i, r in enumerate(PLAN)}
    stage2 = [r for r in PLAN if r.needs]
    assert len(stage2) == 2 * 4 + 3 * 11 + 2 * 7  # CIFAR-10-LT IF 100 and 10: six methods + experts
    for row in stage2:
        encoder = PLAN[index[row.needs]]
        assert index[row.needs] < index[row.id] and encoder.name == "ce" and encoder.needs is None
        assert (encoder.dataset, encoder.imbalance, encoder.backbone) == (
            row.dataset,
            row.imbalance,
            row.backbone,
        )
    # tau is chosen on the balanced validation split, so it shares the block's encoder
    assert PLAN[index["cifar100_lt/if100/resnet32/tau"]].needs == "cifar100_lt/if100/resnet32/ce"
    assert {
        r.imbalance
        for r in PLAN
        if r.name == "uniform_batch_reweighted" and r.dataset == "cifar10_lt"
    } == {10, 50, 100, 500}


def test_each_row_resolves_to_the_settings_it_claims():
    from ltzoo.train.run import check_names
    from ltzoo.train.stage2 import check_stage2_config

    by_id = {r.id: r for r in PLAN}
    for row in PLAN:  # every recipe + overrides is a valid run: keys, names, stage-2 options
        checked = load_config(
            REPO_ROOT / row.recipe, [*row.overrides, f"data.imbalance={row.imbalance:g}"]
        )
        check_stage2_config(checked.stage2)
        check_names(checked)
        assert (checked.data.dataset, checked.data.imbalance) == (row.dataset, row.imbalance)
        assert (checked.model.backbone or checked.model.name.rsplit("_", 1)[0]) == row.backbone

    def cfg(row_id):
        row = by_id[row_id]
        return load_config(
            REPO_ROOT / row.recipe, [*row.overrides, f"data.imbalance={row.imbalance:g}"]
        )

    cb = resolve("wd_maxnorm", cfg("cifar100_lt/if50/resnet32/wd_maxnorm_cb_bce").stage2).options
    assert cb["cb_loss_type"] == "softmax_bce" and cb["base"] == "class_balanced"
    assert cb["project_every"] == "epoch"
    assert (
        resolve("wd_maxnorm", cfg("cifar100_lt/if50/resnet32/wd_maxnorm_cb").stage2).options[
            "cb_loss_type"
        ]
        == "softmax"
    )
    iwb = resolve("iwb", cfg("cifar100_lt/if100/resnet32/iwb_cb_reference").stage2).options
    assert (iwb["variant"], iwb["lam"], iwb["base"]) == ("reference", 0.0069315, "class_balanced")
    step = cfg("cifar10_lt/if100/resnet32/tau_step")
    assert (
        step.data.profile,
        step.data.val_fraction,
        step.stage1.weight_decay,
        step.stage1.epochs,
    ) == ("step", 0.2, 2.88e-3, 200)
    cosine = cfg("cifar10_lt/if100/resnet32/ce_cosine").stage1
    assert (cosine.schedule, cosine.milestones, cosine.epochs) == ("cosine", [], 200)
    assert (
        cfg("cifar100_lt/if50/resnet32_x8/ce").stage2.methods == []
        and cfg("cifar100_lt/if50/resnet32_x8/ce").data.imbalance == 50
    )
    assert cfg("cifar10_lt/if10/resnet32/experts").stage2.methods == ["experts"]
    paper = {r.id: r.paper for r in PLAN}
    assert (
        paper["cifar10_lt/if100/resnet32/ce"] == 70.36
        and paper["cifar10_lt/if100/resnet32/ldam_drw"] == 77.03
    )
    assert (
        paper["cifar100_lt/if50/resnet32_x8/iwb_cb"] == 57.82
        and paper["cifar100_lt/if100/resnet32/crt"] is None
    )


def test_every_row_command_is_one_the_ltzoo_command_accepts(tmp_path, capsys):
    from ltzoo.cli import build_parser

    out = tmp_path / "runs"
    reproduce.main(["--commands", "--out", str(out), "--root", "cifar10_lt=/data/c10"])
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == len(PLAN)
    for row, line in zip(PLAN, commands):
        argv = shlex.split(line)
        assert argv[:3] == ["python", "-m", "ltzoo"]
        args = build_parser().parse_args(argv[3:])
        assert args.config == row.recipe and args.command == ("tune" if row.tune else "train")
        if row.dataset == "cifar10_lt":
            assert "data.root=/data/c10" in args.overrides
    search = dict(zip(PLAN, commands))[next(r for r in PLAN if r.tune)]
    assert (
        f"--output-dir {out}/cifar10_lt/if100/resnet32/wd_search" in search
        and "--trials 12" in search
    )


def test_cost_model_reproduces_the_measured_cpu_records():
    """The fp32 fast-path stage-1 runs recorded on the project's CPU took 0.9 to 1.7 times their
    estimate (slower while other work shared the CPU), counting only the epochs after the checkpoint
    they resumed from; each stage-2 row on an encoder about 20 s; bf16 + channels-last is charged
    at the speed-up engine_precision.py measured, and augmented training at its measured cost."""
    by_id = {r.id: r for r in PLAN}
    for name in ("ce", "ce_cosine"):
        row = by_id[f"cifar10_lt/if100/resnet32/{name}"]
        record = json.loads(records.record_path(COMMITTED, row).read_text())
        cfg = load_config(REPO_ROOT / row.recipe, record["overrides"])
        assert (cfg.mixed_precision, cfg.engine.channels_last) == ("no", True)
        steps = cfg.stage1.epochs * math.ceil(costs.training_images(cfg) / cfg.stage1.batch_size)
        done = record["stage1_resumed_at_step"] / steps
        estimate = costs.row_seconds(cfg, "resnet32", "cpu", from_encoder=False, done=done)
        assert 0.9 < record["wall_seconds"] / estimate < 1.7, (name, estimate)
    ce = by_id["cifar100_lt/if100/resnet32/ce"]
    fp32 = load_config(REPO_ROOT / ce.recipe, ["mixed_precision=no", "engine.channels_last=false"])
    estimate = costs.row_seconds(fp32, "resnet32", "cpu", from_encoder=False)
    fast = load_config(REPO_ROOT / ce.recipe, ["mixed_precision=bf16", "engine.channels_last=true"])
    fast_estimate = costs.row_seconds(fast, "resnet32", "cpu", from_encoder=False)
    assert fast_estimate < 0.56 * estimate  # 313 / 587 = 0.53 of the training time
    plain = load_config(REPO_ROOT / ce.recipe, ["stage2.methods=[]"])
    mixed = load_config(REPO_ROOT / ce.recipe, ["stage2.methods=[]", "stage1.cutmix=1.0"])
    startup = costs.STARTUP_S["cpu"]
    ratio = (costs.row_seconds(mixed, "resnet32", "cpu", from_encoder=False) - startup) / (
        costs.row_seconds(plain, "resnet32", "cpu", from_encoder=False) - startup
    )
    assert 1.1 < ratio < costs.AUGMENT_COST  # only the training share costs more
    # the stage-2 rows ran on the day their encoder trained: the machine's speed that day is the CE
    # record's wall time over its estimate, and the stage-2 estimates scaled by it must match
    ce_record = json.loads(records.record_path(COMMITTED, ce).read_text())
    ce_cfg = load_config(REPO_ROOT / ce.recipe, ce_record["overrides"])
    day = ce_record["wall_seconds"] / costs.row_seconds(
        ce_cfg, "resnet32", "cpu", from_encoder=False
    )
    assert 0.5 < day < 4.0, day  # a contended day is slower, never 4x
    for name in ("iwb_cb", "ncm"):
        row = by_id[f"cifar100_lt/if100/resnet32/{name}"]
        record = json.loads(records.record_path(COMMITTED, row).read_text())
        cfg = load_config(
            REPO_ROOT / row.recipe, [o for o in record["overrides"] if "from_run" not in o]
        )
        estimate = day * costs.row_seconds(cfg, "resnet32", "cpu", from_encoder=True)
        assert 0.5 < estimate / record["wall_seconds"] < 2.0, (
            name,
            estimate,
            record["wall_seconds"],
        )
    cfg = load_config(REPO_ROOT / ce.recipe)
    half = costs.row_seconds(cfg, "resnet32", "cpu", from_encoder=False, done=0.5)
    full = costs.row_seconds(cfg, "resnet32", "cpu", from_encoder=False)
    assert half < 0.55 * full  # a stage 1 checkpointed half-way is charged half its epochs
    assert (
        costs.training_images(load_config(REPO_ROOT / "recipes/cifar100_lt/tau.yaml"))
        == 10847 - 20  # class 0 keeps all 500 and gives 20 of them to the leftover validation split
    )


def test_fast_path_is_the_default_and_a_stopped_stage1_keeps_what_it_started_with(tmp_path):
    assert reproduce.fast_path_settings("cpu", bf16=True) == {
        "data.loader": "device",
        "engine.channels_last": "true",
        "mixed_precision": "bf16",
    }
    assert "mixed_precision" not in reproduce.fast_path_settings("cpu", bf16=False)
    assert reproduce.fast_path_settings("gpu", bf16=True)["engine.fused_optimizer"] == "true"
    plan = [digits_row("ce"), digits_row("lws", encoder="ce")]

    def resolved(*argv, row=plan[0]):
        call = reproduce.Call(
            reproduce.parse_args(["--out", str(tmp_path / "runs"), "--device", "cpu", *argv]), plan
        )
        return call.config(row)

    fresh = resolved()
    assert (fresh.data.loader, fresh.engine.channels_last) == ("device", True)
    assert fresh.mixed_precision == ("bf16" if cpu_computes_bf16() else "no")
    assert resolved(row=plan[1]).data.loader == "device"  # stage-2 rows too
    off = resolved("--fast-path", "off")
    assert (off.data.loader, off.engine.channels_last, off.mixed_precision) == (
        "torch",
        False,
        "no",
    )
    assert resolved("--set", "engine.channels_last=false").engine.channels_last is False
    # a stage 1 stopped part-way in fp32 with the DataLoader resumes so, whatever the default
    folder = tmp_path / "runs" / plan[0].id
    (folder / "checkpoints" / "step_000000007").mkdir(parents=True)
    (folder / "config.yaml").write_text(
        "mixed_precision: 'no'\ndata:\n  loader: torch\nengine:\n  channels_last: false\n"
    )
    kept = resolved()
    assert (kept.data.loader, kept.engine.channels_last, kept.mixed_precision) == (
        "torch",
        False,
        "no",
    )
    (folder / "results.json").write_text("{}")  # finished: its record states what ran
    assert resolved().mixed_precision == "no"
    assert resolved("--force").mixed_precision == fresh.mixed_precision  # started over


def test_a_record_says_from_which_checkpoint_its_last_call_resumed(tmp_path):
    plan = [digits_row("ce")]
    call = reproduce.Call(reproduce.parse_args(["--out", str(tmp_path), "--device", "cpu"]), plan)
    log = call.log(plan[0])
    log.parent.mkdir(parents=True)
    assert call.resumed_at_step(plan[0]) is None
    first = "$ python -m ltzoo train\nstage 1 epoch=0\n"
    log.write_text(first + "$ python -m ltzoo train\nresumed from r/checkpoints/step_000000070\n")
    assert call.resumed_at_step(plan[0]) == 70
    log.write_text(log.read_text() + "$ python -m ltzoo train --overwrite\nstage 1 epoch=0\n")
    assert call.resumed_at_step(plan[0]) is None  # the last call started over


def test_committed_records_belong_to_their_rows_and_tables_are_drawn_from_them(tmp_path):
    recorded = records.load_records(COMMITTED, PLAN)
    assert len(recorded) >= 8
    for row_id, record in recorded.items():
        row = next(r for r in PLAN if r.id == row_id)
        assert record["recipe"] == row.recipe and record["imbalance"] == row.imbalance
        assert (
            record["results"]["dataset"] == row.dataset
            and record["backbone"]["name"] == row.backbone
        )
    cpu = reproduce.Call(reproduce.parse_args(["--device", "cpu"]), PLAN).table_cpu_seconds()
    for (dataset, backbone), block in records.blocks(PLAN).items():
        committed = records.table_path(COMMITTED, dataset, backbone).read_text()
        assert committed == records.render_block(block, recorded, cpu)


def test_tables_show_unrun_rows_with_their_command_and_cpu_cost():
    assert records.cpu_cost(5400) == " (about 1.5 h on the 2-core CPU)"
    assert records.cpu_cost(20) == " (about 1 min on the 2-core CPU)"
    cpu = reproduce.Call(reproduce.parse_args(["--device", "cpu"]), PLAN).table_cpu_seconds()
    x8, r32 = cpu["cifar100_lt/if100/resnet32_x8/ce"], cpu["cifar100_lt/if100/resnet32/ce"]
    assert x8 > 10 * r32 > 10 * cpu["cifar100_lt/if100/resnet32/crt"]  # 63x the network; stage 2
    x8_table = records.table_path(COMMITTED, "cifar100_lt", "resnet32_x8").read_text()
    assert (
        f"| ce | 100 | CE (the encoder) | — | — | — | — | — | — | — | needs a GPU{records.cpu_cost(x8)}: "
        "`python benchmarks/reproduce.py --only cifar100_lt/if100/resnet32_x8/ce` |" in x8_table
    )
    r32 = records.table_path(COMMITTED, "cifar100_lt", "resnet32").read_text()
    # a ResNet-32 stage-2 row with a paper number and no record yet
    unrun = next(
        row
        for row in PLAN
        if row.dataset == "cifar100_lt"
        and row.backbone == "resnet32"
        and row.encoder
        and row.paper is not None
        and not records.record_path(COMMITTED, row).is_file()
    )
    cost = records.cpu_cost(cpu[unrun.id])
    assert (
        f"| {unrun.name} | {unrun.imbalance:g} | {unrun.label} | — | — | — | — | — | {unrun.paper:.2f} | — | "
        f"not run yet{cost}: `python benchmarks/reproduce.py --only {unrun.id}` |" in r32
    )
    record = json.loads((COMMITTED / "cifar100_lt/if100/resnet32/iwb_cb.json").read_text())
    m = record["results"]["methods"][record["results"]["deploy"]]
    cells = " | ".join(f"{m[k]:.2f}" for k in ("top1", "many", "medium", "few", "per_class_std"))
    flip = record["flip"]["top1"]
    assert (
        f"| iwb_cb | 100 | IWB+CB | {cells} | 54.80 | last epoch, no TTA (flip: {flip:.2f}) | "
        f"{54.8 - m['top1']:.2f} under the paper |" in r32
    )


def test_list_and_filters(capsys):
    assert (
        reproduce.main(
            ["--list", "--only", "resnet32_x8", "--imbalance", "50", "--results", str(COMMITTED)]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [
        "cifar100_lt/if50/resnet32_x8/ce",
        "cifar100_lt/if50/resnet32_x8/iwb_cb",
        "cifar100_lt/if50/resnet32_x8/iwb",
    ]
    ce = lines[1].split()
    assert (
        ce[-1] == "no" and ce[-4] == "-" and float(ce[-3]) > 20 * float(ce[-2])
    )  # CPU minutes, GPU minutes
    reproduce.main(
        [
            "--list",
            "--only",
            "cifar100_lt/if100/resnet32",
            "iwb*",
            "--backbone",
            "resnet32",
            "--dataset",
            "cifar100_lt",
            "--results",
            str(COMMITTED),
        ]
    )
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert len(rows) == 22 + 4 + 4  # the IF 100 block, and the IWB rows of IF 50 and IF 10
    recorded = {
        r[0].rsplit("/", 1)[1]
        for r in rows
        if r[0].startswith("cifar100_lt/if100/") and r[-1] == "yes"
    }
    on_disk = {path.stem for path in (COMMITTED / "cifar100_lt/if100/resnet32").glob("*.json")}
    assert recorded == on_disk and {"ce", "iwb_cb"} <= recorded
    with pytest.raises(SystemExit, match="--only 'resnet99' matches no row"):
        reproduce.main(["--list", "--only", "resnet99"])


# ---- the scheduler on fake rows -------------------------------------------------------------------
def test_parallel_2_runs_two_rows_at_once_and_parallel_1_one_after_the_other(tmp_path):
    plan = [digits_row("a"), digits_row("b")]
    assert run_fake(tmp_path / "two", plan, {"a": 1.0, "b": 1.0}, "--parallel", "2") == 0
    a, b = seen(tmp_path / "two", plan[0]), seen(tmp_path / "two", plan[1])
    assert a["start"] < b["end"] and b["start"] < a["end"]  # they overlap
    assert run_fake(tmp_path / "one", plan, {"a": 0.3, "b": 0.3}, "--parallel", "1") == 0
    a, b = seen(tmp_path / "one", plan[0]), seen(tmp_path / "one", plan[1])
    assert b["start"] >= a["end"]


def test_a_finished_row_is_recorded_while_the_next_still_runs(tmp_path):
    plan = [digits_row("short"), digits_row("long")]
    run_fake(
        tmp_path, plan, {"short": 0.1, "long": 3.0}, "--parallel", "2", watch={"long": ["short"]}
    )
    long = seen(tmp_path, plan[1])
    assert long["at_start"] == {str(records.record_path(tmp_path / "results", plan[0])): False}
    assert all(
        long["at_end"].values()
    )  # the short row's record was there before the long one ended
    record = json.loads(records.record_path(tmp_path / "results", plan[0]).read_text())
    assert (
        record["id"] == "digits_lt/if20/resnet32/short"
        and record["results"]["methods"]["stage1"]["top1"] == 50.0
    )
    assert "seed=0" in record["overrides"] and record["protocol"] == {
        "model": "last epoch",
        "tta": "none",
    }


def test_a_stage2_row_waits_for_its_encoder_while_an_independent_row_takes_the_slot(tmp_path):
    plan = [digits_row("ce"), digits_row("lws", encoder="ce"), digits_row("other")]
    run_fake(
        tmp_path,
        plan,
        {"ce": 1.0, "lws": 0.1, "other": 0.1},
        "--parallel",
        "2",
        watch={"lws": ["ce"]},
    )
    encoder, stage2, other = (seen(tmp_path, row) for row in plan)
    assert all(stage2["at_start"].values()) and stage2["start"] >= encoder["end"]
    assert other["start"] < encoder["end"]
    command = json.loads(records.record_path(tmp_path / "results", plan[1]).read_text())[
        "overrides"
    ]
    assert f"stage1.from_run={tmp_path / 'runs' / plan[0].id}" in command


def test_recorded_rows_are_skipped_and_force_runs_them_again(tmp_path, capsys):
    plan = [digits_row("a"), digits_row("b")]
    run_fake(tmp_path, plan, {"a": 0.1, "b": 0.1})
    first = seen(tmp_path, plan[0])["start"]
    assert run_fake(tmp_path, plan, {"a": 0.1, "b": 0.1}) == 0
    assert "2 row(s) selected, 0 to run (none)" in capsys.readouterr().out
    assert seen(tmp_path, plan[0])["start"] == first
    run_fake(tmp_path, plan, {"a": 0.1, "b": 0.1}, "--force", "--only", "a")
    assert seen(tmp_path, plan[0])["start"] > first
    assert "1 to run (digits_lt/if20/resnet32/a)" in capsys.readouterr().out


def _set_stage1_accuracy(work, row, per_class):
    path = records.record_path(work / "results", row)
    record = json.loads(path.read_text())
    record["results"]["methods"]["stage1"]["per_class_accuracy"] = per_class
    path.write_text(json.dumps(record))


def test_stage2_rows_follow_a_retrained_encoder_and_a_stopped_stage1_resumes(tmp_path, capsys):
    plan = [digits_row("ce"), digits_row("lws", encoder="ce"), digits_row("other")]
    times = {"ce": 0.1, "lws": 0.1, "other": 0.1}
    run_fake(tmp_path, plan, times)
    for row in plan:
        _set_stage1_accuracy(tmp_path, row, [50.0, 50.0])
    capsys.readouterr()
    assert run_fake(tmp_path, plan, times) == 0
    assert "0 to run (none)" in capsys.readouterr().out
    # the encoder's record now holds another encoder: the stage-2 row made on the old one runs again
    _set_stage1_accuracy(tmp_path, plan[0], [60.0, 40.0])
    run_fake(tmp_path, plan, times)
    assert "1 to run (digits_lt/if20/resnet32/lws)" in capsys.readouterr().out
    # an encoder stopped part-way over an older record resumes, and its stage-2 row follows it
    (tmp_path / "runs" / plan[0].id / "results.json").unlink()
    (tmp_path / "runs" / plan[0].id / "checkpoints" / "step_000000007").mkdir(parents=True)
    capsys.readouterr()
    run_fake(tmp_path, plan, times)
    assert "2 to run (digits_lt/if20/resnet32/ce, digits_lt/if20/resnet32/lws)" in (
        capsys.readouterr().out
    )
    real = reproduce.Call(
        reproduce.parse_args(["--out", str(tmp_path / "runs"), "--device", "cpu"]), plan
    )
    assert "--overwrite" not in real.ltzoo_command(plan[0])  # the encoder resumes
    assert "engine.resume=auto" in real.overrides(plan[0])
    assert "--overwrite" in real.ltzoo_command(plan[1])  # a stage-2 row starts over
    assert "engine.resume=auto" not in real.overrides(plan[1])


def test_a_failed_row_is_reported_with_its_log_and_blocks_only_its_dependents(tmp_path, capsys):
    plan = [digits_row("ce"), digits_row("lws", encoder="ce"), digits_row("other")]
    assert run_fake(tmp_path, plan, {"ce": -1, "lws": 0.1, "other": 0.1}, "--parallel", "2") == 1
    out = capsys.readouterr().out
    log = tmp_path / "runs" / "logs" / "digits_lt/if20/resnet32/ce.log"
    assert f"FAILED digits_lt/if20/resnet32/ce: something broke in this row; log {log}" in out
    assert (
        "[not started] digits_lt/if20/resnet32/lws: its encoder digits_lt/if20/resnet32/ce was failed"
        in out
    )
    assert records.record_path(tmp_path / "results", plan[2]).is_file()
    assert not (tmp_path / "runs" / plan[1].id).exists()


def runner_job(tmp_path, name, seconds, estimate, resumable=False):
    run_dir = tmp_path / name
    return Job(
        name,
        [sys.executable, "-c", FAKE, str(run_dir), str(seconds)],
        tmp_path / f"{name}.log",
        estimate=estimate,
        resumable=resumable,
    )


def finish(job, code):
    return Outcome("recorded" if code == 0 else "stopped" if code == 143 else "failed")


def test_time_limit_refuses_a_row_whose_estimate_exceeds_the_time_left(tmp_path):
    jobs = [
        runner_job(tmp_path, "big", 0.1, estimate=3600),
        runner_job(tmp_path, "small", 0.1, estimate=1),
    ]
    outcomes = Runner(parallel=1, time_limit=30, echo=lambda line: None).run(jobs, set(), finish)
    assert outcomes["big"] == Outcome("refused", "estimated 60.0 min, 0.5 min left")
    assert outcomes["small"].status == "recorded" and not (tmp_path / "big").exists()
    partial = [
        runner_job(tmp_path, "resumable", 0.1, estimate=3600, resumable=True),
        runner_job(tmp_path, "stage2", 0.1, estimate=3600),
    ]
    outcomes = Runner(time_limit=300, start_partial=True, echo=lambda line: None).run(
        partial, set(), finish
    )
    assert outcomes["resumable"].status == "recorded"  # started anyway: it checkpoints
    assert outcomes["stage2"].status == "refused"  # nothing to checkpoint: it would be lost
    late = [runner_job(tmp_path, "late", 0.1, estimate=3600, resumable=True)]
    outcomes = Runner(time_limit=60, start_partial=True, echo=lambda line: None).run(
        late, set(), finish
    )
    assert (
        outcomes["late"].status == "refused"
    )  # under min_partial (120 s) left: no progress to keep


def test_at_the_time_limit_running_rows_get_sigterm(tmp_path):
    jobs = [runner_job(tmp_path, "long", 60, estimate=1)]
    start = time.monotonic()
    outcomes = Runner(time_limit=1.5, grace=20, echo=lambda line: None).run(jobs, set(), finish)
    assert outcomes["long"].status == "stopped" and time.monotonic() - start < 15
    assert json.loads((tmp_path / "long" / "fake.json").read_text())["sigterm"] is True


# ---- one real tiny run -----------------------------------------------------------------------------
def test_real_digits_encoder_and_stage2_row_end_to_end(tmp_path, capsys):
    """ltzoo train for real, as the plan runs it: the encoder, then LWS on it, records and table; a
    record lost after its run finished is recovered from the run folder, not trained again."""
    plan = [
        digits_row("ce", overrides=("stage2.methods=[]",)),
        digits_row("lws", encoder="ce", overrides=("stage2.methods=[lws]",)),
    ]
    argv = [
        "--out",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
        "--parallel",
        "2",
        "--device",
        "cpu",
        "--set",
        "stage1.epochs=1",
        "--set",
        "stage2.epochs=1",
    ]
    assert reproduce.main(argv, plan=plan) == 0
    ce, lws = (
        json.loads(records.record_path(tmp_path / "results", row).read_text()) for row in plan
    )
    assert lws["results"]["stage1_from_run"] == str(tmp_path / "runs" / plan[0].id)
    assert (
        lws["results"]["methods"]["stage1"]["per_class_accuracy"]
        == ce["results"]["methods"]["stage1"]["per_class_accuracy"]
    )
    assert lws["results"]["deploy"] == "lws" and ce["results"]["deploy"] == "stage1"
    # every record: the last-epoch headline and, beside it, the flip-averaged numbers
    assert "eval.tta=flip" in lws["overrides"] and set(lws["flip"]) >= {"protocol", "top1"}
    assert lws["flip"]["top1"] == lws["results"]["tta"]["flip"]["methods"]["lws"]["top1"]
    assert lws["command"].startswith(
        f"python -m ltzoo train --config {DIGITS} --overwrite --set output_dir="
    )  # a stage-2 row starts over; an encoder resumes
    assert ce["command"].startswith(f"python -m ltzoo train --config {DIGITS} --set output_dir=")
    assert "engine.resume=auto" in ce["overrides"]
    assert ce["backbone"] == {"name": "resnet32", "parameters_at_100_classes": 470004}
    table = records.table_path(tmp_path / "results", "digits_lt", "resnet32").read_text()
    top1 = lws["results"]["methods"]["lws"]["top1"]
    assert f"| lws | 20 | LWS | {top1:.2f} |" in table and "not run yet" not in table
    records.record_path(tmp_path / "results", plan[1]).unlink()
    capsys.readouterr()
    assert reproduce.main(argv, plan=plan) == 0
    out = capsys.readouterr().out
    assert "[recovered] digits_lt/if20/resnet32/lws" in out and "0 to run (none)" in out
    assert (
        json.loads(records.record_path(tmp_path / "results", plan[1]).read_text())["results"]
        == lws["results"]
    )


def test_records_name_data_a_clone_reads_not_a_machine_path():
    assert records.portable("--set data.root=../shared/data/cifar100 --set seed=0") == (
        "--set data.root=$LTZOO_DATA_ROOT/cifar100 --set seed=0"
    )
    assert records.portable("--root cifar10_lt=/srv/x/cifar10") == (
        "--root cifar10_lt=$LTZOO_DATA_ROOT/cifar10"
    )
    assert records.portable("data.root=data/cifar100") == "data.root=data/cifar100"
    committed = [*COMMITTED.rglob("*.json"), REPO_ROOT / "weights" / "index.json"]
    outside = [p for p in committed if "../shared" in p.read_text() or "/work/" in p.read_text()]
    assert not outside, outside


def test_the_ablation_table_reads_each_step_s_head_from_its_record():
    def record(val, test, deploy="stage1", val_deploy=None, test_deploy=None, seconds=None):
        methods = {"stage1": {"top1": test, "many": 60.0, "medium": 40.0, "few": 20.0}}
        validation = {"stage1": {"top1": val}}
        if deploy != "stage1":
            methods[deploy] = {"top1": test_deploy, "many": 55.0, "medium": 45.0, "few": 30.0}
            validation[deploy] = {"top1": val_deploy}
        results = {"deploy": deploy, "methods": methods, "validation": validation,
                   "seconds": seconds or {"stage1": 9000.0}}  # fmt: skip
        return {"results": results, "machine": "test machine"}

    ids = {row.name: row.id for row in PLAN if row.id.startswith("cifar100_lt/if100/resnet32/")}
    recs = {
        ids["ce"]: record(39.2, 39.12),
        # resumed: this call trained 1,000 s of stage 1, its epochs over all calls took 10,000 s, and
        # stage 2 and scoring 800 s after them
        ids["bs_aa_cutmix"]: record(
            49.5,
            49.0,
            "lws",
            51.25,
            50.5,
            {"stage1": 1000.0, "stage1_epochs": 10000.0, "total": 1800.0},
        ),  # fmt: skip
    }
    table = records.render_ablation(PLAN, recs).splitlines()
    steps = [line for line in table if line.startswith("| ") and not line.startswith("| Step")]
    assert len(steps) == 7
    assert "| 39.20 | 39.12 | 60.00 | 40.00 | 20.00 | 2.50 h |" in steps[0]
    assert (
        "not run yet: `python benchmarks/reproduce.py --only cifar100_lt/if100/resnet32/bs`"
        in steps[1]
    )
    assert steps[3].startswith("| + CutMix | 49.50 | 49.00 |") and "| 3.00 h |" in steps[3]
    assert steps[4].startswith(
        "| + the stage-2 method with the best validation top-1 (lws) | 51.25 | 50.50 | 55.00 |"
    )
    assert "Machine: test machine" in table
