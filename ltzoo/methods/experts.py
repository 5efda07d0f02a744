"""Head/tail experts (Lee, "long-tail problem", Yonsei University, 2022, Sec. 4.1 and 5.5), decoupled: on the
frozen stage-1 encoder, one linear classifier is trained on the images of the head half of the
classes and one on the tail half (classes sorted by training count, descending; the first
``C // 2`` are head, the ``head`` / ``tail`` of :func:`ltzoo.data.longtail.class_groups`), each with cross-entropy over
all ``C`` outputs. They are combined at test time by the ``experts`` head
(:mod:`ltzoo.heads.experts`): ``combine="l1"`` divides each expert's output vector by its L1 norm
``sum_j |z_j|`` before taking each class's score from its owner (Lee's proposal);
``combine="concat"`` takes the raw scores (Lee's baseline).

Lee clips gradients (max norm 5) because training on the tail classes alone gave infinite
gradients: ``grad_clip`` (default 5.0 here, or ``stage2.grad_clip`` when set) applies to both
experts. ``init="stage1"`` (default) starts both experts from the stage-1 classifier, ``"random"``
from a fresh one. Both combinations are scored on the validation split (mean per-class accuracy)
into ``head.selection``; the ``combine`` option, not that score, decides what is deployed.
"""

from __future__ import annotations

import torch

from ltzoo.data.longtail import class_groups
from ltzoo.evaluation import mean_per_class_accuracy
from ltzoo.heads import create_head
from ltzoo.heads.experts import COMBINE
from ltzoo.losses import create_loss
from ltzoo.methods.spec import MethodSpec, check_choices
from ltzoo.registry import METHODS

INITS = ("stage1", "random")


def head_tail_split(class_counts):
    """(head classes, tail classes) as lists: the halves of :func:`ltzoo.data.longtail.class_groups`
    (sorted by count descending, stable; the first ``C // 2`` are head)."""
    counts = [float(c) for c in class_counts]
    if len(counts) < 2:
        raise ValueError("experts: needs at least 2 classes to split into head and tail halves")
    groups = class_groups(counts)
    return [int(i) for i in groups["head"]], [int(i) for i in groups["tail"]]


def check(options) -> None:
    check_choices(options, {"combine": COMBINE, "init": INITS}, prefix="experts: ")


def fit(stage1_head, train, val, class_counts, settings, seed, combine, init):
    if train.retrain != "classifier":
        raise ValueError(
            f"experts trains two classifiers on different classes; stage2.retrain={train.retrain!r} would "
            "fine-tune one encoder two ways. Use stage2.retrain=classifier (stage2.augment may be true)"
        )
    head_classes, tail_classes = head_tail_split(class_counts)

    # a random init depends only on the run's seed
    torch.manual_seed(seed + 211)
    head = create_head("experts", stage1_head.in_features, stage1_head.num_classes, combine=combine)
    if init == "stage1":
        head.load_linear(stage1_head.fc.weight, getattr(stage1_head.fc, "bias", None))
    head.set_tail_classes(tail_classes)
    for name, classes, offset in (("fc", head_classes, 0), ("fc_tail", tail_classes, 1)):
        expert = create_head(
            "linear", head.in_features, head.num_classes, bias=head.fc.bias is not None
        )
        # train the expert's own layer in place
        expert.fc = getattr(head, name)
        train.subset_of_classes(classes).fit_head(
            expert,
            expert.parameters(),
            create_loss("ce"),
            settings=settings,
            seed=seed + offset,
        )
    head.eval()
    if val is not None and len(val.labels):
        scores = {}
        with torch.no_grad():
            for way in COMBINE:
                head.set_combine(way)
                scores[way] = mean_per_class_accuracy(head(val.features), val.labels)
        head.set_combine(combine)
        head.selection = {
            "combine": combine,
            "val_mean_per_class_accuracy": scores,
            "tail_classes": tail_classes,
        }
    return head


METHOD = METHODS.register(
    "experts",
    MethodSpec(
        name="experts",
        head="experts",
        description="head/tail experts: two linear classifiers on the frozen encoder, one per half of "
        "the classes, combined at test time",
        paper="Lee, long-tail problem, Yonsei University, 2022",
        fit=fit,
        loss="ce",
        # Lee's gradient clipping (max norm 5): training on the tail classes alone gave infinite gradients
        defaults={"sampler": "instance_balanced", "grad_clip": 5.0},
        options={"combine": "l1", "init": "stage1"},
        check=check,
        # an experts head deploys from a run (its tail classes come from the training counts)
        in_zoo=False,
    ),
)
