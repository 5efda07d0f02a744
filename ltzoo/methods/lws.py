"""LWS, learnable weight scaling (Kang et al., "Decoupling Representation and Classifier for
Long-Tailed Recognition", ICLR 2020, Sec. 4): the stage-1 classifier is kept and only the
per-class scales ``f_i`` of ``f_i * (w_i x + b_i)`` are learned, with cross-entropy and
class-balanced sampling."""

from ltzoo.heads import head_from_stage1
from ltzoo.losses import create_loss
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def fit(stage1_head, train, val, class_counts, settings, seed):
    head = head_from_stage1("lws", stage1_head)
    head.fc.requires_grad_(False)
    return train.fit_head(head, [head.scales], create_loss("ce"), settings=settings, seed=seed)


METHOD = METHODS.register(
    "lws",
    MethodSpec(
        name="lws",
        head="lws",
        description="learnable weight scaling: per-class scales on the stage-1 classifier, class-balanced sampling",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
        fit=fit,
        loss="ce",
        defining={"sampler": "class_balanced"},
    ),
)
