"""cRT, classifier re-training (Kang et al., ICLR'20, Sec. 4): a re-initialised linear head
trained with cross-entropy and class-balanced sampling on the frozen encoder's features."""

import torch

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.registry import STAGE2
from ltzoo.train.stage2.common import TRAINING_OPTIONS, train_head


@STAGE2.register("crt")
def fit_crt(stage1_head, train, val, class_counts, cfg, seed, **options):
    torch.manual_seed(seed + 101)  # the re-initialised head depends only on the run's seed
    head = create_head("linear", stage1_head.in_features, stage1_head.num_classes)
    settings = cfg.settings_for("crt", options)
    return train_head(head, head.parameters(), train, create_loss("ce"), seed=seed, **settings)


fit_crt.options = TRAINING_OPTIONS
