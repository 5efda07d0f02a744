"""IWB, inverse weight-balancing (Dang et al., AAAI'24, Sec. 3.2, Eq. 5-10): the stage-1 linear
classifier is fine-tuned on the frozen encoder with ``CB loss + KL(softmax(|W|) || softmax(P))``,
instance-balanced sampling, 10 epochs, cosine to 0 (CIFAR-100-LT: batch 64, lr 0.005,
lambda 0.15). The loss is :class:`ltzoo.losses.iwb.IWBLoss`; its options (``lam``, ``base``,
``variant``, ``difficulty``, ``divergence``, ...) are this method's options."""

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.train.stage2.common import train_head
from ltzoo.train.stage2.spec import Stage2Method, loss_defaults, register


def fit_iwb(stage1_head, train, val, class_counts, settings, seed, **loss_options):
    head = create_head("linear", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    loss_fn = create_loss("iwb", class_counts=class_counts, **loss_options)
    return train_head(head, head.parameters(), train, loss_fn, settings=settings, seed=seed)


register(
    Stage2Method(
        "iwb",
        fit_iwb,
        paper="Dang et al., AAAI'24, Sec. 3.2",
        loss="iwb",
        defaults={"sampler": "instance_balanced", "lr": 0.005},
        options=loss_defaults("iwb"),
        check=lambda options: create_loss("iwb", class_counts=[2, 1], **options),
    )
)
