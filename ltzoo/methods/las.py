"""LAS, MiSLAS's stage 2 (Zhong et al., "Improving Calibration for Long-Tailed Recognition", CVPR'21,
Sec. 3.2): the stage-1 linear classifier fine-tuned on the frozen encoder with label-aware smoothing
(:class:`ltzoo.losses.label_aware_smoothing.LabelAwareSmoothingLoss`) and class-balanced sampling;
the authors' CIFAR-100-LT IF 100 settings: 10 epochs, batch 128, lr 0.1, weight decay 2e-4, eps_1 0.4,
eps_K 0.1, concave. Their shift learning of the batch-norm layers is not part of it: the encoder
stays frozen."""

from ltzoo.methods.spec import MethodSpec, stage1_classifier_fine_tuning
from ltzoo.registry import METHODS

METHOD = METHODS.register(
    "las",
    MethodSpec(
        name="las",
        head="linear",
        description="label-aware smoothing: stage-1 classifier fine-tuned with per-class label smoothing",
        paper="Zhong et al., Improving Calibration for Long-Tailed Recognition, CVPR 2021",
        defaults={
            "sampler": "class_balanced",
            "batch_size": 128,
            "lr": 0.1,
            "weight_decay": 0.0002,
        },
        **stage1_classifier_fine_tuning("label_aware_smoothing"),
    ),
)
