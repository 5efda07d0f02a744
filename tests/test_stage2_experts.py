"""Head/tail experts (Lee, Yonsei University, 2022): the combination on Lee's own numbers, the split, the training."""

import numpy as np
import pytest
import torch

import ltzoo
from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.methods.experts import head_tail_split
from ltzoo.train.config import Stage2Config
from ltzoo.train.features import FeatureSet
from ltzoo.train.head_training import train_head
from ltzoo.train.stage2 import fit_stage2

# Lee, Sec. 5.5, the failed example (target 7): the two models' outputs as printed there
SEED_HEAD = [
    -4.0348,
    -4.8249,
    -3.2829,
    2.5847,
    -1.0996,
    -9.5114,
    -9.5376,
    -9.5386,
    -9.5094,
    -9.5313,
]
SEED_TAIL = [
    -6.3900,
    -6.3827,
    -6.3896,
    -6.3891,
    -6.3916,
    -0.1007,
    -1.4665,
    0.5020,
    -4.7876,
    -2.5880,
]


def _seed_head(combine):
    """An experts head whose experts output exactly Lee's vectors (zero weights, the vectors as bias)."""
    head = create_head("experts", 3, 10, combine=combine)
    with torch.no_grad():
        head.fc.weight.zero_(), head.fc_tail.weight.zero_()
        (
            head.fc.bias.copy_(torch.tensor(SEED_HEAD)),
            head.fc_tail.bias.copy_(torch.tensor(SEED_TAIL)),
        )
    return head


def test_concat_reproduces_the_seeds_concatenation():
    out = _seed_head("concat")(torch.randn(1, 3))[0]
    assert torch.allclose(out, torch.tensor(SEED_HEAD[:5] + SEED_TAIL[5:]))
    assert int(out.argmax()) == 3  # Lee's prediction (wrong: the target is 7)


def test_l1_normalisation_reproduces_the_seeds_printed_values():
    out = _seed_head("l1")(torch.randn(1, 3))[0]
    printed = [
        -0.0636,
        -0.0760,
        -0.0517,
        0.0407,
        -0.0173,
        -0.0024,
        -0.0354,
        0.0121,
        -0.1156,
        -0.0628,
    ]
    assert np.allclose(
        out.tolist(), printed, atol=5e-4
    )  # Lee prints the inputs rounded to 4 decimals
    assert (
        int(out.argmax()) == 3
    )  # "the difference in value has decreased, it is still expected to be 3"


def test_head_tail_split_sorts_by_count():
    assert head_tail_split([5, 100, 50, 7]) == ([1, 2], [0, 3])
    assert head_tail_split([9, 8, 7, 6, 5]) == (
        [0, 1],
        [2, 3, 4],
    )  # odd C: the middle class is tail
    with pytest.raises(ValueError, match="at least 2 classes"):
        head_tail_split([3])


def test_head_plugin_contract():
    head = create_head("experts", 4, 6, combine="concat")
    head.set_tail_classes([0, 5])
    clone = create_head("experts", 4, 6, **head.head_kwargs)
    clone.load_state_dict(head.state_dict())
    x = torch.randn(3, 4)
    assert torch.equal(clone(x), head(x)) and clone.tail_mask.tolist() == [
        True,
        False,
        False,
        False,
        False,
        True,
    ]
    assert torch.equal(head.class_weight[0], head.fc_tail.weight[0]) and torch.equal(
        head.class_weight[1], head.fc.weight[1]
    )
    model = ltzoo.create_model(
        "lt_classifier", backbone="resnet20", head="experts", num_classes=4, in_chans=1
    )
    model.reset_classifier(3)
    assert type(model.head).__name__ == "ExpertsHead" and model(torch.randn(2, 1, 8, 8)).shape == (
        2,
        3,
    )
    with pytest.raises(ValueError, match="combine='sum' is not allowed"):
        create_head("experts", 4, 6, combine="sum")
    with pytest.raises(ValueError, match="at least one class"):
        head.set_tail_classes([])


def _features(seed, counts, dim=4):
    gen = torch.Generator().manual_seed(seed)
    feats = [
        torch.eye(dim)[c] * 2.5 + torch.randn(n, dim, generator=gen) for c, n in enumerate(counts)
    ]
    return FeatureSet(
        torch.cat(feats), torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    )


def test_each_expert_trains_on_its_half_only(monkeypatch):
    seen = []
    real_fit_head = FeatureSet.fit_head

    def recording_fit_head(train, head, params, loss_fn, **settings):
        seen.append((sorted(set(train.labels.tolist())), settings["settings"].grad_clip))
        return real_fit_head(train, head, params, loss_fn, **settings)

    monkeypatch.setattr(FeatureSet, "fit_head", recording_fit_head)
    counts = np.array([100, 60, 30, 10])
    stage1 = create_head("linear", 4, 4)
    head = fit_stage2(
        "experts",
        stage1,
        _features(0, counts),
        _features(1, (20, 20, 20, 20)),
        counts,
        Stage2Config(epochs=2),
        seed=0,
    )
    assert seen == [([0, 1], 5.0), ([2, 3], 5.0)]  # head half, tail half; Lee's clipping by default
    assert head.tail_mask.tolist() == [False, False, True, True] and head.combine == "l1"
    assert set(head.selection["val_mean_per_class_accuracy"]) == {"concat", "l1"}


def test_experts_beat_stage1_on_the_tail():
    counts = np.array([300, 200, 15, 8])
    train, test = _features(0, counts), _features(2, (100, 100, 100, 100))
    stage1 = create_head("linear", 4, 4)
    stage1 = train_head(
        stage1,
        stage1.parameters(),
        train,
        create_loss("ce"),
        sampler="instance_balanced",
        epochs=10,
        batch_size=32,
        lr=0.1,
        momentum=0.9,
        weight_decay=0.0,
        seed=0,
    )
    head = fit_stage2(
        "experts",
        stage1,
        train,
        None,
        counts,
        Stage2Config(epochs=10, method_options={"experts": {"combine": "concat"}}),
        seed=0,
    )

    def tail_acc(h):
        pred = h(test.features).argmax(1)
        return float((pred[test.labels >= 2] == test.labels[test.labels >= 2]).float().mean())

    assert tail_acc(head) > tail_acc(stage1)


def test_grad_clip_bounds_the_step():
    train = FeatureSet(torch.randn(64, 4) * 100, torch.randint(0, 3, (64,)))
    head = create_head("linear", 4, 3)
    start = head.fc.weight.detach().clone()
    train_head(
        head,
        head.parameters(),
        train,
        create_loss("ce"),
        sampler="instance_balanced",
        epochs=1,
        batch_size=64,
        lr=1.0,
        momentum=0.0,
        weight_decay=0.0,
        seed=0,
        grad_clip=1e-3,
    )
    assert (
        float((head.fc.weight.detach() - start).norm()) <= 1e-3 * 1.0 + 1e-7
    )  # one step of lr * clipped grad


@pytest.mark.parametrize(
    "options, message",
    [
        ({"combine": "max"}, "combine='max' is not allowed"),
        ({"init": "zeros"}, "init='zeros' is not allowed"),
    ],
)
def test_bad_options_fail_clearly(options, message):
    counts = np.array([10, 5])
    with pytest.raises(ValueError, match=message):
        fit_stage2(
            "experts",
            create_head("linear", 4, 2),
            _features(0, counts),
            None,
            counts,
            Stage2Config(method_options={"experts": options}),
            seed=0,
        )
