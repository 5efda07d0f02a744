"""LWS, learnable weight scaling (Kang et al., ICLR'20, Sec. 4): the stage-1 classifier is kept
and only the per-class scales ``f_i`` of ``f_i * (w_i x + b_i)`` are learned, with cross-entropy
and class-balanced sampling."""

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.registry import STAGE2
from ltzoo.train.stage2.common import TRAINING_OPTIONS, train_head


@STAGE2.register("lws")
def fit_lws(stage1_head, train, val, class_counts, cfg, seed, **options):
    head = create_head("lws", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    head.fc.requires_grad_(False)
    settings = cfg.settings_for("lws", options)
    return train_head(head, [head.scales], train, create_loss("ce"), seed=seed, **settings)


fit_lws.options = TRAINING_OPTIONS
