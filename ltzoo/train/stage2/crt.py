"""cRT, classifier re-training (Kang et al., ICLR'20, Sec. 4): a re-initialised linear head
trained with cross-entropy and class-balanced sampling on the frozen encoder's features."""

import torch

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.train.stage2.common import train_head
from ltzoo.train.stage2.spec import Stage2Method, register


def fit_crt(stage1_head, train, val, class_counts, settings, seed):
    torch.manual_seed(seed + 101)  # the re-initialised head depends only on the run's seed
    head = create_head("linear", stage1_head.in_features, stage1_head.num_classes)
    return train_head(
        head, head.parameters(), train, create_loss("ce"), settings=settings, seed=seed
    )


register(
    Stage2Method(
        "crt",
        fit_crt,
        paper="Kang et al., ICLR'20, Sec. 4",
        loss="ce",
        defaults={"sampler": "class_balanced"},
    )
)
