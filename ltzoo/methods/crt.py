"""cRT, classifier re-training (Kang et al., "Decoupling Representation and Classifier for
Long-Tailed Recognition", ICLR 2020, Sec. 4): a re-initialised linear head trained with
cross-entropy and class-balanced sampling on the frozen encoder's features."""

import torch

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def fit(stage1_head, train, val, class_counts, settings, seed):
    # the re-initialised head depends only on the run's seed
    torch.manual_seed(seed + 101)
    head = create_head("linear", stage1_head.in_features, stage1_head.num_classes)
    return train.fit_head(head, head.parameters(), create_loss("ce"), settings=settings, seed=seed)


METHOD = METHODS.register(
    "crt",
    MethodSpec(
        name="crt",
        head="linear",
        description="classifier re-training: re-initialised linear head on the frozen encoder, class-balanced sampling",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
        fit=fit,
        loss="ce",
        defining={"sampler": "class_balanced"},
    ),
)
