"""LWS, learnable weight scaling (Kang et al., ICLR'20, Sec. 4): the stage-1 classifier is kept
and only the per-class scales ``f_i`` of ``f_i * (w_i x + b_i)`` are learned, with cross-entropy
and class-balanced sampling."""

from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.train.stage2.common import train_head
from ltzoo.train.stage2.spec import Stage2Method, register


def fit_lws(stage1_head, train, val, class_counts, settings, seed):
    head = create_head("lws", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    head.fc.requires_grad_(False)
    return train_head(head, [head.scales], train, create_loss("ce"), settings=settings, seed=seed)


register(
    Stage2Method(
        "lws",
        fit_lws,
        paper="Kang et al., ICLR'20, Sec. 4",
        loss="ce",
        defaults={"sampler": "class_balanced"},
    )
)
