"""IWB, inverse weight-balancing (Dang et al., AAAI'24, Sec. 3.2, Eq. 5-10): the stage-1 linear
classifier is fine-tuned on the frozen encoder with ``CB loss + KL(softmax(|W|) || softmax(P))``,
instance-balanced sampling, 10 epochs, cosine to 0 (CIFAR-100-LT: batch 64, lr 0.005,
lambda 0.15). The loss is :class:`ltzoo.losses.iwb.IWBLoss`; options go to it (``lam``, ``base``,
``variant``, ``difficulty``, ``divergence``)."""

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.registry import STAGE2
from ltzoo.train.stage2.common import TRAINING_OPTIONS, train_head

LOSS_OPTIONS = ("lam", "base", "variant", "difficulty", "divergence", "beta", "cb_loss_type", "detach_target")


@STAGE2.register("iwb")
def fit_iwb(stage1_head, train, val, class_counts, cfg, seed, **options):
    loss_options = {k: options.pop(k) for k in list(options) if k in LOSS_OPTIONS}
    head = create_head("linear", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    options.setdefault("sampler", "instance_balanced")
    options.setdefault("lr", 0.005)
    settings = cfg.settings_for("iwb", options)
    loss_fn = create_loss("iwb", class_counts=class_counts, **loss_options)
    return train_head(head, head.parameters(), train, loss_fn, seed=seed, **settings)


fit_iwb.options = TRAINING_OPTIONS + LOSS_OPTIONS
