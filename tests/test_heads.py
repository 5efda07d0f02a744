"""Head plugins: each formula against a hand computation, plus the plugin mechanism."""

import math
from importlib import metadata

import pytest
import torch

import ltzoo
from ltzoo.heads import create_head
from ltzoo.registry import HEADS, Registry, UnknownNameError

W = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # class norms 5 and 1
B = torch.tensor([0.5, -0.5])
X = torch.tensor([[1.0, 2.0]])


def _with_linear(name, **kwargs):
    head = create_head(name, 2, 2, **kwargs)
    head.load_linear(W, B)
    return head


def test_linear_head():
    assert _with_linear("linear")(X).tolist() == [[11.5, 0.5]]  # 3+8+0.5, 1-0.5


@pytest.mark.parametrize(
    "tau, expected",
    [(0.0, [11.5, 0.5]), (1.0, [11 / 5 + 0.5, 0.5]), (0.5, [11 / 5**0.5 + 0.5, 0.5])],
)
def test_tau_norm_head(tau, expected):
    head = _with_linear("tau_norm", tau=tau)
    assert head(X)[0].tolist() == pytest.approx(expected)
    head.set_tau(0.0)
    assert head(X)[0].tolist() == pytest.approx([11.5, 0.5])
    assert float(head.tau) == 0.0 and head.head_kwargs["tau"] == 0.0


def test_lws_head_scales_logits():
    head = _with_linear("lws")
    with torch.no_grad():
        head.scales.copy_(torch.tensor([2.0, 3.0]))
    assert head(X).tolist() == [[23.0, 1.5]]
    assert head.class_weight.norm(dim=1).tolist() == pytest.approx([10.0, 3.0])


def test_cosine_head():
    head = create_head("cosine", 2, 2, scale=10.0)
    with torch.no_grad():
        head.fc.weight.copy_(W)
    x_unit = X / math.sqrt(5)
    expected = [
        10 * float(x_unit[0] @ torch.tensor([0.6, 0.8])),
        10 * float(x_unit[0] @ torch.tensor([1.0, 0.0])),
    ]
    assert head(X)[0].tolist() == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ncm_head_fit_and_score(metric):
    head = create_head("ncm", 2, 2, metric=metric)
    feats = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    head.fit(feats, labels)
    assert head.class_means.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # means of normalised features
    x = torch.tensor([[3.0, 4.0]])  # normalised: (0.6, 0.8)
    if metric == "cosine":
        assert head(x)[0].tolist() == pytest.approx([0.6, 0.8])
    else:
        assert head(x)[0].tolist() == pytest.approx([-math.hypot(0.4, 0.8), -math.hypot(0.6, 0.2)])
    with pytest.raises(ValueError, match=r"no features for classes \[1\]"):
        head.fit(feats[:1], labels[:1])


def test_head_errors_name_the_option():
    with pytest.raises(ValueError, match="metric='manhattan'.*cosine, euclidean"):
        create_head("ncm", 2, 2, metric="manhattan")
    with pytest.raises(
        ValueError, match=r"head 'lws' does not take \['tau'\]; its options are: bias"
    ):
        create_head("lws", 2, 2, tau=1.0)
    with pytest.raises(UnknownNameError, match="did you mean 'tau_norm'"):
        create_head("tau_nrom", 2, 2)


def test_registry_refuses_duplicates():
    registry = Registry("thing")
    registry.register("a", obj=object())
    with pytest.raises(ValueError, match="'a' is already registered"):
        registry.register("a", obj=object())


class _EntryPoint:
    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"third_party:{name}", obj

    def load(self):
        return self._obj


def test_third_party_head_through_entry_points(monkeypatch):
    class DoubledLinear(ltzoo.heads.HeadBase):
        def __init__(self, in_features, num_classes):
            super().__init__(in_features, num_classes)
            self.fc = torch.nn.Linear(in_features, num_classes)

        def forward(self, x):
            return 2 * self.fc(x)

    def fake_entry_points(group=None, **kwargs):
        return [_EntryPoint("doubled_linear", DoubledLinear)] if group == "ltzoo.heads" else []

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(HEADS, "_entries", dict(HEADS._entries))
    monkeypatch.setattr(HEADS, "_plugins_loaded", False)
    assert "doubled_linear" in ltzoo.list_heads()
    model = ltzoo.create_model(
        "lt_classifier", backbone="resnet20", head="doubled_linear", num_classes=3
    )
    assert isinstance(model.head, DoubledLinear)
    model.reset_classifier(5)
    assert isinstance(model.head, DoubledLinear) and model.head.fc.out_features == 5


def test_tau_normalize_is_the_one_formula_of_the_head_and_posthoc_tuning():
    from ltzoo.heads.tau_norm import tau_normalize
    from ltzoo.tuning.posthoc import PosthocHead

    assert torch.allclose(
        tau_normalize(W, 0.5), torch.tensor([[3 / 5**0.5, 4 / 5**0.5], [1.0, 0.0]])
    )
    assert torch.equal(
        tau_normalize(torch.zeros(1, 2), 1.0), torch.zeros(1, 2)
    )  # a zero row stays zero
    tuned = PosthocHead(_with_linear("linear"), tau_allowed=True, counts=[10, 1])
    for tau in (0.0, 0.3, 1.0):
        assert torch.equal(tuned.raw_logits(X, tau=tau), _with_linear("tau_norm", tau=tau)(X))
