"""IWB, inverse weight-balancing (Dang et al., "Inverse Weight-Balancing for Deep Long-Tailed
Learning", AAAI 2024, Sec. 3.2, Eq. 5-10): the stage-1 linear classifier is fine-tuned on the
frozen encoder with ``CB loss + KL(softmax(|W|) || softmax(P))``, instance-balanced sampling,
10 epochs, cosine to 0 (CIFAR-100-LT: batch 64, lr 0.005, lambda 0.15). The loss is
:class:`ltzoo.losses.iwb.IWBLoss`; its options (``lam``, ``base``, ``variant``, ``difficulty``,
``divergence``, ...) are this method's options."""

from ltzoo.heads import head_from_stage1
from ltzoo.losses import create_loss, loss_defaults
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def fit(stage1_head, train, val, class_counts, settings, seed, **loss_options):
    head = head_from_stage1("linear", stage1_head)
    loss_fn = create_loss("iwb", class_counts=class_counts, **loss_options)
    return train.fit_head(head, head.parameters(), loss_fn, settings=settings, seed=seed)


METHOD = METHODS.register(
    "iwb",
    MethodSpec(
        name="iwb",
        head="linear",
        description="inverse weight-balancing: stage-2 classifier fine-tuning with a KL weight-norm regulariser",
        paper="Dang et al., Inverse Weight-Balancing for Deep Long-Tailed Learning, AAAI 2024",
        fit=fit,
        loss="iwb",
        defaults={"sampler": "instance_balanced", "lr": 0.005},
        options=loss_defaults("iwb"),
        check=lambda options: create_loss("iwb", class_counts=[2, 1], **options),
    ),
)
