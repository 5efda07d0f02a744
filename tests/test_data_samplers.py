"""Samplers: class histograms against their formulas, determinism per (seed, epoch), and
sharding by Accelerate across 2 CPU processes."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
import torch

from ltzoo.data import create_sampler, exponential_profile, list_samplers
from ltzoo.registry import UnknownNameError

COUNTS = exponential_profile(400, 10, 40)  # 400, 265, 176, 116, 77, 51, 34, 22, 15, 10: N = 1,166
TARGETS = np.repeat(np.arange(10), COUNTS)[np.random.default_rng(0).permutation(int(COUNTS.sum()))]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIONS = {"progressive": {"num_epochs": 4}, "uniform_batch": {"samples_per_class": 3}}


def histogram(sampler, epoch=0):
    sampler.set_epoch(epoch)
    idx = np.array(list(sampler))
    assert len(idx) == len(sampler)
    return np.bincount(TARGETS[idx], minlength=10), idx


def assert_fits(observed, probs):
    """Pearson chi-square goodness of fit at the 0.1% level. The draws are seeded, so the test is
    deterministic; the level only says how unlikely a correct sampler is to fail it. Without
    scipy: every class within 4 binomial standard deviations of its expectation (a Bonferroni
    bound over <= 10 classes, also below 0.1% for a correct sampler)."""
    n = observed.sum()
    expected = n * np.asarray(probs)
    try:
        from scipy.stats import chisquare
    except ImportError:
        sd = np.sqrt(n * probs * (1 - probs))
        assert np.all(np.abs(observed - expected) <= 4 * sd + 1), (observed, expected)
        return
    assert chisquare(observed, expected).pvalue > 1e-3, (observed, expected)


def test_registry_and_options():
    assert list_samplers() == [
        "class_balanced",
        "instance_balanced",
        "oversample",
        "progressive",
        "square_root",
        "undersample",
        "uniform_batch",
    ]
    with pytest.raises(UnknownNameError, match="did you mean 'class_balanced'"):
        create_sampler("class_balance", TARGETS)
    with pytest.raises(ValueError, match=r"sampler 'square_root' does not take \['power'\].*q"):
        create_sampler("square_root", TARGETS, power=0.5)
    with pytest.raises(ValueError, match=r"num_epochs=None"):
        create_sampler("progressive", TARGETS)
    with pytest.raises(ValueError, match=r"samples_per_class=0"):
        create_sampler("uniform_batch", TARGETS, samples_per_class=0)
    with pytest.raises(ValueError, match=r"class 2 has no images"):
        create_sampler("uniform_batch", np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"targets must be"):
        create_sampler("class_balanced", np.array([0.5, 1.0]))


def test_instance_balanced_is_a_permutation():
    hist, idx = histogram(create_sampler("instance_balanced", TARGETS))
    assert np.array_equal(hist, COUNTS) and sorted(idx) == list(range(len(TARGETS)))


def test_class_balanced_and_square_root_fit_their_formulas():
    cb = create_sampler("class_balanced", TARGETS, num_samples=20000)
    hist, idx = histogram(cb)
    assert_fits(hist, np.full(10, 0.1))
    assert np.allclose(cb.class_probabilities(), 0.1)
    # within a class every image is equally likely (class 0 has 400 images, ~2,000 draws)
    in_class = np.bincount(idx[TARGETS[idx] == 0], minlength=len(TARGETS))[TARGETS == 0]
    assert_fits(in_class, np.full(400, 1 / 400))
    sqrt_probs = np.sqrt(COUNTS) / np.sqrt(COUNTS).sum()
    sr = create_sampler("square_root", TARGETS, num_samples=20000)
    hist, _ = histogram(sr, epoch=3)
    assert np.allclose(sr.class_probabilities(), sqrt_probs)
    assert_fits(hist, sqrt_probs)
    with pytest.raises(AssertionError):  # the check has teeth: the CB histogram is not sqrt's
        assert_fits(histogram(cb)[0], sqrt_probs)
    q = create_sampler("square_root", TARGETS, q=0.25)
    assert np.allclose(q.class_probabilities(), COUNTS**0.25 / (COUNTS**0.25).sum())
    assert len(q) == len(TARGETS)


@pytest.mark.parametrize("epoch", [0, 1, 2, 4, 9])
def test_progressive_interpolates_ib_to_cb(epoch):
    pb = create_sampler("progressive", TARGETS, num_epochs=4, num_samples=20000)
    pb.set_epoch(epoch)
    t = min(epoch, 4) / 4
    expected = (1 - t) * COUNTS / COUNTS.sum() + t / 10
    assert np.allclose(pb.class_probabilities(), expected)
    assert_fits(histogram(pb, epoch)[0], expected)


def test_uniform_batch_every_chunk_is_uniform():
    s = create_sampler("uniform_batch", TARGETS, samples_per_class=3)
    assert s.batch_size == 30 and s.num_batches == 1166 // 30 == 38 and len(s) == 1140
    _, idx = histogram(s, epoch=1)
    for chunk in idx.reshape(-1, 30):
        assert np.bincount(TARGETS[chunk], minlength=10).tolist() == [3] * 10
    # the tail class (10 images, 38 * 3 = 114 draws) repeats its images evenly: 11 or 12 times each
    tail = Counter(idx[TARGETS[idx] == 9].tolist())
    assert set(tail.values()) <= {11, 12} and len(tail) == 10 and sum(tail.values()) == 114
    # with a DataLoader of batch_size = s * C each batch is uniform
    loader = torch.utils.data.DataLoader(
        torch.as_tensor(TARGETS), batch_size=s.batch_size, sampler=s
    )
    assert all(torch.bincount(b, minlength=10).tolist() == [3] * 10 for b in loader)
    assert len(create_sampler("uniform_batch", TARGETS, num_batches=7)) == 70


def test_over_and_under_sampling_are_flat():
    ros = create_sampler("oversample", TARGETS)
    hist, idx = histogram(ros, epoch=2)
    assert hist.tolist() == [400] * 10 and len(ros) == 4000
    per_image = np.bincount(idx, minlength=len(TARGETS))
    for c, n in enumerate(COUNTS):  # every image floor or ceil of 400 / n_c times
        assert set(per_image[TARGETS == c]) <= {400 // n, -(-400 // n)}
    rus = create_sampler("undersample", TARGETS)
    hist, idx = histogram(rus)
    assert hist.tolist() == [10] * 10 and len(rus) == 100 and len(set(idx)) == 100
    assert not np.array_equal(np.sort(idx), np.sort(histogram(rus, epoch=1)[1]))


@pytest.mark.parametrize(
    "name",
    [
        "instance_balanced",
        "class_balanced",
        "square_root",
        "progressive",
        "uniform_batch",
        "oversample",
        "undersample",
    ],
)
def test_determinism_per_seed_and_epoch(name):
    a = create_sampler(name, TARGETS, seed=5, **OPTIONS.get(name, {}))
    b = create_sampler(name, TARGETS, seed=5, **OPTIONS.get(name, {}))
    assert isinstance(a.generator, torch.Generator)
    assert np.array_equal(histogram(a, 3)[1], histogram(b, 3)[1])
    assert not np.array_equal(histogram(a, 3)[1], histogram(a, 4)[1])
    assert not np.array_equal(
        histogram(a, 3)[1],
        histogram(create_sampler(name, TARGETS, seed=6, **OPTIONS.get(name, {})), 3)[1],
    )
    a.set_epoch(1)
    first, again = list(a), list(a)  # without set_epoch the generator moves on
    assert first != again and first == histogram(b, 1)[1].tolist()


SCRIPT = """
import json, sys
import numpy as np, torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from ltzoo.data import create_sampler

targets = np.repeat(np.arange(4), [40, 20, 12, 8])
acc = Accelerator()
out = {"world": acc.num_processes, "type": str(acc.distributed_type)}
for name, kw in json.loads(sys.argv[2]).items():
    sampler = create_sampler(name, targets, seed=11, **kw)
    loader = acc.prepare(DataLoader(torch.arange(len(targets)), batch_size=8, sampler=sampler))
    out[name] = [[b.tolist() for b in loader] for _ in range(2)]  # 2 epochs; Accelerate calls set_epoch
with open(f"{sys.argv[1]}/rank{acc.process_index}.json", "w") as f:
    json.dump(out, f)
acc.end_training()  # destroys the Gloo group: left to the interpreter's exit it can abort (SIGABRT)
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_accelerate_two_processes_cover_the_epoch_without_overlap(tmp_path):
    kinds = {
        "instance_balanced": {},
        "class_balanced": {},
        "progressive": {"num_epochs": 2},
        "uniform_batch": {"samples_per_class": 2},
        "oversample": {},
        "undersample": {},
    }
    script = tmp_path / "shard.py"
    script.write_text(textwrap.dedent(SCRIPT))
    # accelerate 1.x picks MULTI_CPU (gloo) for --multi_gpu only with ACCELERATE_USE_CPU set:
    # without it each of the 2 processes runs alone (DistributedType.NO)
    env = dict(
        os.environ,
        CUDA_VISIBLE_DEVICES="",
        ACCELERATE_USE_CPU="1",
        HF_HOME=str(tmp_path / "hf"),
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(script),
        str(tmp_path),
        json.dumps(kinds),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and "MULTI_CPU" in ranks[0]["type"]
    targets = np.repeat(np.arange(4), [40, 20, 12, 8])
    for name, kw in kinds.items():
        reference = create_sampler(name, targets, seed=11, **kw)
        for epoch in (0, 1):
            reference.set_epoch(epoch)
            expected = list(reference)
            b0, b1 = ranks[0][name][epoch], ranks[1][name][epoch]
            assert len(b0) == len(b1) == len(expected) // 16
            # rank r holds batches r, r + 2, ...: interleaved they are exactly the epoch, once
            interleaved = [i for pair in zip(b0, b1) for batch in pair for i in batch]
            assert interleaved == expected, name
            if name == "instance_balanced":
                flat0, flat1 = sum(b0, []), sum(b1, [])
                assert not set(flat0) & set(flat1) and sorted(flat0 + flat1) == list(range(80))
        assert ranks[0][name][0] != ranks[0][name][1]  # a new order in the second epoch
