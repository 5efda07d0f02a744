"""WD+MaxNorm (Alshammari et al. CVPR'22): the projection by hand, the cap after real steps, options."""

import numpy as np
import pytest
import torch

import ltzoo
from ltzoo.heads import create_head
from ltzoo.methods.wd_maxnorm import MaxNormProjection
from ltzoo.train.config import ConfigError, Stage2Config
from ltzoo.train.features import FeatureSet
from ltzoo.train.stage2 import check_stage2_config, fit_stage2

COUNTS = np.array([200, 50, 10])


def _features(seed=0, counts=COUNTS, dim=4):
    gen = torch.Generator().manual_seed(seed)
    feats = [
        torch.eye(max(dim, 3))[c, :dim] * 2.0 + 1.5 * torch.randn(n, dim, generator=gen)
        for c, n in enumerate(counts)
    ]
    labels = [torch.full((n,), c) for c, n in enumerate(counts)]
    return FeatureSet(torch.cat(feats), torch.cat(labels))


def _head(rows):
    head = create_head("linear", 2, len(rows))
    head.load_linear(
        torch.tensor(rows, dtype=torch.float32), torch.tensor([1.0, -2.0, 3.0][: len(rows)])
    )
    return head


def test_projection_by_hand_caps_long_rows_and_leaves_short_rows_bitwise():
    head = _head([[3.0, 4.0], [0.6, 0.8], [0.0, -1.5]])  # norms 5, 1, 1.5
    before = head.fc.weight.detach().clone()
    bias = head.fc.bias.detach().clone()
    MaxNormProjection(2.0)(head)
    w = head.fc.weight.detach()
    assert torch.allclose(w[0], torch.tensor([1.2, 1.6]))  # rescaled onto the ball, direction kept
    assert torch.equal(w[1], before[1]) and torch.equal(w[2], before[2])  # under the cap: untouched
    assert torch.equal(head.fc.bias, bias)  # the bias is not constrained


def test_relative_threshold_follows_the_reference_code():
    weight = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, -1.5]])  # norms 5, 1, 1.5
    assert MaxNormProjection.from_weight(weight, 0.1).delta == pytest.approx(1.0 + 0.1 * 4.0)
    assert MaxNormProjection.from_weight(weight, 0.0).delta == pytest.approx(1.0)
    assert MaxNormProjection.from_weight(weight, 2.5, "absolute").delta == 2.5


def test_after_a_training_step_norms_stay_under_the_cap():
    train = _features()
    stage1 = create_head("linear", 4, 3)
    with torch.no_grad():
        stage1.fc.weight.copy_(torch.tensor([[3.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.5, 0]]))
    cfg = Stage2Config(
        epochs=1,
        batch_size=64,
        lr=0.5,
        method_options={"wd_maxnorm": {"thresh": 2.0, "thresh_mode": "absolute"}},
    )
    head = fit_stage2("wd_maxnorm", stage1, train, None, COUNTS, cfg, seed=0)
    norms = head.fc.weight.detach().norm(dim=1)
    assert head.selection["max_norm"] == 2.0
    assert (norms <= 2.0 + 1e-5).all(), norms
    free = Stage2Config(
        epochs=1,
        batch_size=64,
        lr=0.5,
        method_options={"wd_maxnorm": {"thresh": 1e9, "thresh_mode": "absolute"}},
    )
    unconstrained = fit_stage2("wd_maxnorm", stage1, train, None, COUNTS, free, seed=0)
    assert (
        unconstrained.fc.weight.detach().norm(dim=1)[0] > 2.5
    )  # without the cap the head class grows past it


def test_cb_variant_helps_the_tail_class_and_each_step_is_projected(monkeypatch):
    import ltzoo.methods.wd_maxnorm as module

    calls = []
    original = module.MaxNormProjection.__call__

    def spy(self, head):
        original(self, head)
        calls.append(float(head.fc.weight.detach().norm(dim=1).max()))

    monkeypatch.setattr(module.MaxNormProjection, "__call__", spy)
    train, test = _features(0), _features(1, counts=(200, 200, 200))
    stage1 = create_head("linear", 4, 3)
    from ltzoo.losses import create_loss
    from ltzoo.train.head_training import train_head

    stage1 = train_head(
        stage1,
        stage1.parameters(),
        train,
        create_loss("ce"),
        sampler="instance_balanced",
        epochs=20,
        batch_size=32,
        lr=0.1,
        momentum=0.9,
        weight_decay=0.0,
        seed=0,
    )
    cfg = Stage2Config(
        epochs=10,
        lr=0.05,
        weight_decay=0.1,
        method_options={"wd_maxnorm": {"base": "class_balanced"}},
    )
    head = fit_stage2("wd_maxnorm", stage1, train, None, COUNTS, cfg, seed=0)
    steps = 10 * int(np.ceil(COUNTS.sum() / 64))
    assert len(calls) == steps + 1  # once at the start, then after every optimizer step
    assert max(calls) <= head.selection["max_norm"] + 1e-5

    def tail_acc(h):
        return float((h(test.features).argmax(1)[test.labels == 2] == 2).float().mean())

    assert tail_acc(head) > tail_acc(stage1) + 0.05


def test_projection_once_per_epoch_as_the_authors_code(monkeypatch):
    """project_every=epoch: no projection before training, one after each epoch; in between the
    norms may leave the ball (they do here: lr 0.5 on a head class)."""
    import ltzoo.methods.wd_maxnorm as module

    calls = []
    original = module.MaxNormProjection.__call__

    def spy(self, head):
        calls.append(float(head.fc.weight.detach().norm(dim=1).max()))
        original(self, head)

    monkeypatch.setattr(module.MaxNormProjection, "__call__", spy)
    stage1 = create_head("linear", 4, 3)
    with torch.no_grad():
        stage1.fc.weight.copy_(torch.tensor([[3.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.5, 0]]))
    options = {"thresh": 2.0, "thresh_mode": "absolute", "project_every": "epoch"}
    cfg = Stage2Config(epochs=3, batch_size=64, lr=0.5, method_options={"wd_maxnorm": options})
    head = fit_stage2("wd_maxnorm", stage1, _features(), None, COUNTS, cfg, seed=0)
    assert len(calls) == 3 and calls[0] > 2.0  # the first projection sees the unconstrained epoch
    assert float(head.fc.weight.detach().norm(dim=1).max()) <= 2.0 + 1e-5


def test_cb_loss_form_as_the_authors_code():
    """cb_loss_type=softmax_bce trains with the CB loss the authors' code calls "softmax"."""
    from ltzoo.losses import create_loss
    from ltzoo.train.stage2 import resolve

    options = {"base": "class_balanced", "cb_loss_type": "softmax_bce"}
    resolved = resolve("wd_maxnorm", Stage2Config(method_options={"wd_maxnorm": options}))
    assert resolved.loss == "class_balanced (softmax_bce)"
    logits, targets = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([2])
    bce = create_loss("class_balanced", class_counts=COUNTS, loss_type="softmax_bce")(
        logits, targets
    )
    ce = create_loss("class_balanced", class_counts=COUNTS)(logits, targets)
    assert float(bce) != pytest.approx(float(ce))  # the two forms are different losses
    a = fit_stage2(
        "wd_maxnorm",
        _head([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
        _features(dim=2),
        None,
        COUNTS,
        Stage2Config(epochs=1, method_options={"wd_maxnorm": options}),
        seed=0,
    )
    b = fit_stage2(
        "wd_maxnorm",
        _head([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
        _features(dim=2),
        None,
        COUNTS,
        Stage2Config(epochs=1, method_options={"wd_maxnorm": {"base": "class_balanced"}}),
        seed=0,
    )
    assert not torch.allclose(a.fc.weight, b.fc.weight)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"project_every": "batch"}, "project_every='batch' is not allowed; allowed: step, epoch"),
        ({"cb_loss_type": "softmax_ce"}, "loss_type='softmax_ce'"),
        ({"thresh_mode": "log"}, "thresh_mode='log' is not allowed"),
        ({"thresh": 1.5}, "must lie in \\[0, 1\\]"),
        ({"thresh": -1, "thresh_mode": "absolute"}, "must be a number >= 0"),
        ({"base": "focal"}, "base='focal' is not allowed"),
    ],
)
def test_bad_options_fail_clearly(options, message):
    with pytest.raises(ValueError, match=message):
        fit_stage2(
            "wd_maxnorm",
            _head([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
            _features(dim=2),
            None,
            COUNTS,
            Stage2Config(method_options={"wd_maxnorm": options}),
            seed=0,
        )


def test_unknown_option_is_refused_before_training():
    with pytest.raises(ConfigError, match="thresold not allowed; options of 'wd_maxnorm'"):
        check_stage2_config(
            Stage2Config(methods=["wd_maxnorm"], method_options={"wd_maxnorm": {"thresold": 0.1}})
        )


def test_zoo_model_exists_with_a_linear_head():
    model = ltzoo.create_model("resnet32_wd_maxnorm", num_classes=5)
    assert (
        "resnet32_wd_maxnorm" in ltzoo.list_models() and type(model.head).__name__ == "LinearHead"
    )
