"""WD+MaxNorm (Alshammari, Wang, Ramanan and Kong, "Long-Tailed Recognition via Weight Balancing",
CVPR 2022, Sec. 3.3-3.4): the stage-1 linear classifier is re-trained on the frozen encoder with weight
decay (Eq. 3, ``+ lambda/2 * sum_k ||w_k||^2``) under the per-class MaxNorm constraint
``||w_k||_2 <= delta`` for every class k (Eq. 4), optimised by projected gradient descent: after
every SGD step each row of ``W`` whose norm exceeds ``delta`` is rescaled onto the ball,
``w_k <- w_k * delta / ||w_k||``; rows inside it are left untouched. The paper's two-stage recipe
uses the class-balanced loss (Cui et al. CVPR'19) in this stage ("WD+MaxNorm+CB",
``base="class_balanced"``); ``base="ce"`` is plain cross-entropy. ``cb_loss_type`` picks the CB
loss's form: ``softmax`` (default: class-weighted softmax cross-entropy, Cui et al.'s Eq. for the
softmax loss) or ``softmax_bce`` (binary cross-entropy on softmax probabilities, what the authors'
code calls "softmax"; see :class:`ltzoo.losses.class_balanced.ClassBalancedLoss`).

``project_every="step"`` (default) projects after every SGD step, as the paper's projected
gradient descent reads; ``"epoch"`` projects once at the end of every epoch and not before
training, as the authors' code does (``utils/trainval.py``, ``pgdFunc.PGD(model)`` after each
training phase).

``thresh`` sets ``delta``. ``thresh_mode="relative"`` (default) follows the authors' code
(``utils/regularizers.py``, ``MaxNorm_via_PGD.setPerLayerThresh``): ``delta = min_k ||w_k|| +
thresh * (max_k ||w_k|| - min_k ||w_k||)`` from the norms of the classifier the stage starts from
(their CIFAR100-LT demo: ``thresh = 0.1``, weight decay 0.1, lr 0.01, 10 epochs, batch 64, cosine);
``thresh_mode="absolute"`` uses ``delta = thresh``. The bias is not constrained (as in their code).
Sampling is instance-balanced (their loader shuffles the long-tailed set).
"""

from __future__ import annotations

import torch

from ltzoo.heads import head_from_stage1
from ltzoo.losses import create_loss
from ltzoo.methods.spec import MethodSpec, check_choices
from ltzoo.registry import METHODS

THRESH_MODES = ("relative", "absolute")
BASE_LOSSES = ("ce", "class_balanced")
PROJECT_EVERY = ("step", "epoch")


class MaxNormProjection:
    """Projection onto ``{W : ||w_k||_2 <= delta for every row k}``, the PGD step of MaxNorm."""

    def __init__(self, delta: float):
        if not delta > 0:
            raise ValueError(f"wd_maxnorm: the norm cap delta={delta} must be > 0")
        self.delta = float(delta)

    @classmethod
    def from_weight(
        cls, weight: torch.Tensor, thresh: float, mode: str = "relative"
    ) -> "MaxNormProjection":
        if mode not in THRESH_MODES:
            raise ValueError(
                f"wd_maxnorm: thresh_mode={mode!r} is not allowed; allowed: {', '.join(THRESH_MODES)}"
            )
        if isinstance(thresh, bool) or not isinstance(thresh, (int, float)) or not thresh >= 0:
            raise ValueError(
                f"wd_maxnorm: thresh={thresh!r} must be a number >= 0 (relative: in [0, 1])"
            )
        if mode == "absolute":
            return cls(thresh)
        if thresh > 1:
            raise ValueError(
                f"wd_maxnorm: thresh={thresh} with thresh_mode='relative' must lie in [0, 1] "
                "(0: the smallest class norm, 1: the largest)"
            )
        norms = weight.detach().float().norm(dim=1)
        return cls(float(norms.min() + thresh * (norms.max() - norms.min())))

    @torch.no_grad()
    def __call__(self, head) -> None:
        weight = head.fc.weight
        norms = weight.norm(dim=1, keepdim=True)
        over = norms > self.delta
        weight.copy_(torch.where(over, weight * (self.delta / norms.clamp_min(1e-12)), weight))


def check(options) -> None:
    check_choices(options, {"base": BASE_LOSSES, "project_every": PROJECT_EVERY})
    MaxNormProjection.from_weight(torch.ones(2, 1), options["thresh"], options["thresh_mode"])
    create_loss(
        "class_balanced",
        class_counts=[2, 1],
        beta=options["beta"],
        loss_type=options["cb_loss_type"],
    )


def fit(stage1_head, train, val, class_counts, settings, seed, **options):
    head = head_from_stage1("linear", stage1_head)
    project = MaxNormProjection.from_weight(
        head.fc.weight, options["thresh"], options["thresh_mode"]
    )
    per_step = options["project_every"] == "step"
    if per_step:
        # start inside the constraint set
        project(head)
    if options["base"] == "ce":
        loss_fn = create_loss("ce")
    else:
        loss_fn = create_loss(
            "class_balanced",
            class_counts=class_counts,
            beta=options["beta"],
            loss_type=options["cb_loss_type"],
        )
    head = train.fit_head(
        head,
        head.parameters(),
        loss_fn,
        settings=settings,
        seed=seed,
        after_step=project if per_step else None,
        after_epoch=None if per_step else project,
    )
    head.selection = {"max_norm": project.delta, **options}
    return head


METHOD = METHODS.register(
    "wd_maxnorm",
    MethodSpec(
        name="wd_maxnorm",
        head="linear",
        description="weight balancing: stage-2 classifier re-training with weight decay and a per-class "
        "weight-norm cap (MaxNorm, projected gradient)",
        paper="Alshammari et al., Long-Tailed Recognition via Weight Balancing, CVPR 2022",
        fit=fit,
        loss=lambda o: "ce" if o["base"] == "ce" else f"class_balanced ({o['cb_loss_type']})",
        defaults={"sampler": "instance_balanced"},
        options={
            "thresh": 0.1,
            "thresh_mode": "relative",
            "base": "ce",
            "beta": 0.9999,
            "cb_loss_type": "softmax",
            "project_every": "step",
        },
        check=check,
    ),
)
