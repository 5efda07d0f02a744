"""Stage-2 methods on cached features: tau selection, LWS/cRT training, cache equivalence."""

import numpy as np
import pytest
import torch

import ltzoo
from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.train.config import Stage2Config
from ltzoo.train.features import FeatureSet, extract_features
from ltzoo.train.head_training import train_head
from ltzoo.train.stage2 import fit_stage2


def _imbalanced_features(seed=0, counts=(200, 50, 10), dim=4, spread=1.5):
    gen = torch.Generator().manual_seed(seed)
    centers = torch.eye(dim)[: len(counts)] * 2.0
    feats, labels = [], []
    for c, n in enumerate(counts):
        feats.append(centers[c] + spread * torch.randn(n, dim, generator=gen))
        labels.append(torch.full((n,), c))
    return FeatureSet(torch.cat(feats), torch.cat(labels))


def _biased_linear(train):
    """A stage-1-like classifier: trained with CE and instance-balanced sampling (head-biased)."""
    head = create_head("linear", train.features.shape[1], 3)
    return train_head(
        head,
        head.parameters(),
        train,
        create_loss("ce"),
        sampler="instance_balanced",
        epochs=30,
        batch_size=32,
        lr=0.1,
        momentum=0.9,
        weight_decay=0.0,
        seed=0,
    )


def _per_class_acc(head, data):
    pred = head(data.features).argmax(1)
    return [float((pred[data.labels == c] == c).float().mean()) for c in range(3)]


@pytest.mark.parametrize("method", ["lws", "crt", "tau"])
def test_balanced_stage2_raises_tail_accuracy(method):
    train = _imbalanced_features(0)
    balanced = _imbalanced_features(1, counts=(200, 200, 200))
    stage1 = _biased_linear(train)
    torch.manual_seed(0)
    head = fit_stage2(
        method, stage1, train, balanced, np.array([200, 50, 10]), Stage2Config(epochs=10), seed=0
    )
    before, after = _per_class_acc(stage1, balanced), _per_class_acc(head, balanced)
    assert after[2] > before[2] + 0.05, (before, after)  # the 10-image class gains
    assert np.mean(after) > np.mean(before)


def test_tau_picks_the_best_tau_on_validation():
    train = _imbalanced_features(0)
    val = _imbalanced_features(2, counts=(100, 100, 100))
    stage1 = _biased_linear(train)
    head = fit_stage2(
        "tau",
        stage1,
        train,
        val,
        np.array([200, 50, 10]),
        Stage2Config(tau_grid=[0.0, 1.0, 2.0]),
        seed=0,
    )
    scores = head.selection["mean_per_class_accuracy"]
    assert float(head.tau) == [0.0, 1.0, 2.0][int(np.argmax(scores))]
    assert len(scores) == 3 and head.selection["split"] == "val"


def test_tau_without_validation_split_needs_select_on_train():
    train = _imbalanced_features(0)
    stage1 = _biased_linear(train)
    counts = np.array([200, 50, 10])
    with pytest.raises(ValueError, match="stage2.select_on=train"):
        fit_stage2("tau", stage1, train, None, counts, Stage2Config(), seed=0)
    with pytest.warns(UserWarning, match="choosing on the training features"):
        head = fit_stage2(
            "tau", stage1, train, None, counts, Stage2Config(select_on="train"), seed=0
        )
    assert head.selection["split"] == "train"


def test_ncm_uses_class_means_of_normalised_features():
    train = _imbalanced_features(0)
    head = fit_stage2(
        "ncm", _biased_linear(train), train, None, np.array([200, 50, 10]), Stage2Config(), seed=0
    )
    for c in range(3):
        expected = torch.nn.functional.normalize(train.features[train.labels == c], dim=1).mean(0)
        assert torch.allclose(head.class_means[c], expected, atol=1e-6)


def test_cached_features_equal_running_the_encoder():
    """Training a head on cached features == training it with the frozen encoder in the loop."""
    model = ltzoo.create_model("resnet32_ce", num_classes=3, in_chans=1).eval()
    images = torch.rand(24, 1, 8, 8)
    labels = torch.arange(24) % 3
    dataset = torch.utils.data.TensorDataset(images, labels)
    cached = extract_features(model, dataset, batch_size=7)

    def fit(features_of):
        torch.manual_seed(0)
        head = create_head("linear", 64, 3)
        opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
        for step in range(5):
            idx = torch.arange(step * 4, step * 4 + 8) % 24
            loss = torch.nn.functional.cross_entropy(head(features_of(idx)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return head

    from_cache = fit(lambda idx: cached.features[idx])
    with torch.no_grad():
        live_feats = model.forward_head(model.forward_features(images), pre_logits=True)
    from_encoder = fit(
        lambda idx: model.forward_head(
            model.forward_features(images[idx]), pre_logits=True
        ).detach()
    )
    assert torch.allclose(cached.features, live_feats, atol=1e-5)
    assert torch.allclose(from_cache.fc.weight, from_encoder.fc.weight, atol=1e-5)
