"""IWB, inverse weight-balancing (Dang et al., "Inverse Weight-Balancing for Deep Long-Tailed
Learning", AAAI 2024, Sec. 3.2, Eq. 5-10): the stage-1 linear classifier is fine-tuned on the
frozen encoder with ``CB loss + KL(softmax(|W|) || softmax(P))``, instance-balanced sampling,
10 epochs, cosine to 0 (CIFAR-100-LT: batch 64, lr 0.005, lambda 0.15). The loss is
:class:`ltzoo.losses.iwb.IWBLoss`; its options (``lam``, ``base``, ``variant``, ``difficulty``,
``divergence``, ...) are this method's options."""

from ltzoo.methods.spec import MethodSpec, stage1_classifier_fine_tuning
from ltzoo.registry import METHODS

METHOD = METHODS.register(
    "iwb",
    MethodSpec(
        name="iwb",
        head="linear",
        description="inverse weight-balancing: stage-2 classifier fine-tuning with a KL weight-norm regulariser",
        paper="Dang et al., Inverse Weight-Balancing for Deep Long-Tailed Learning, AAAI 2024",
        defaults={"sampler": "instance_balanced", "lr": 0.005},
        **stage1_classifier_fine_tuning("iwb"),
    ),
)
