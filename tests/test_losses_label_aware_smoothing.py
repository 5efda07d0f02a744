"""Label-aware smoothing (Zhong et al., CVPR'21): the per-class factors and the loss, checked against
hand computations."""

import math

import pytest
import torch

from ltzoo.losses import create_loss, smoothing_factors


def test_factors_run_from_the_tail_s_to_the_head_s_along_each_shape():
    counts = [500, 50, 5]  # x = (N - 5) / 495: 1, 45/495, 0
    x = 45 / 495
    expected = {
        "concave": 0.1 + 0.3 * math.sin(math.pi / 2 * x),  # 0.14270
        "linear": 0.1 + 0.3 * x,  # 0.12727
        "convex": 0.4 + 0.3 * math.sin(3 * math.pi / 2 + math.pi / 2 * x),  # 0.10312
    }
    for shape, middle in expected.items():
        eps = smoothing_factors(counts, 0.4, 0.1, shape)
        assert eps.tolist() == pytest.approx([0.4, middle, 0.1], abs=1e-6), shape
    assert expected["convex"] < expected["linear"] < expected["concave"]
    assert smoothing_factors([7, 7], 0.3, 0.0, "concave").tolist() == pytest.approx([0.3, 0.3])


def test_loss_mixes_the_label_s_nll_with_the_mean_over_classes_by_its_class_s_factor():
    loss = create_loss("label_aware_smoothing", class_counts=[500, 50, 5])
    logits = torch.tensor([[2.0, 0.0, -1.0], [2.0, 0.0, -1.0]])
    log_z = math.log(math.exp(2) + 1 + math.exp(-1))  # 2.16985
    nll = [log_z - 2, log_z - 0, log_z + 1]
    mean_nll = sum(nll) / 3
    # class 0 (eps 0.4), class 2 (eps 0.1): the batch mean of the two
    head = 0.6 * nll[0] + 0.4 * mean_nll  # 0.83651
    tail = 0.9 * nll[2] + 0.1 * mean_nll
    value = loss(logits, torch.tensor([0, 2]))
    assert value.item() == pytest.approx((head + tail) / 2, rel=1e-6)
    # with no smoothing it is cross-entropy
    plain = create_loss("label_aware_smoothing", class_counts=[500, 50, 5], smooth_head=0.0,
                        smooth_tail=0.0)  # fmt: skip
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    assert plain(logits, torch.tensor([0, 2])).item() == pytest.approx(ce.item(), rel=1e-6)


def test_bad_options_name_the_field_and_what_is_allowed():
    with pytest.raises(
        ValueError, match=r"smooth_head=1.5 is out of range; allowed range \[0.0, 1.0\]"
    ):
        create_loss("label_aware_smoothing", class_counts=[5, 1], smooth_head=1.5)
    with pytest.raises(ValueError, match="shape='flat' is not supported; choose one of 'concave'"):
        create_loss("label_aware_smoothing", class_counts=[5, 1], shape="flat")
