"""NCM, nearest class mean (Kang et al., "Decoupling Representation and Classifier for
Long-Tailed Recognition", ICLR 2020, Sec. 4): class means of the L2-normalised training features,
cosine similarity at test time. No training."""

from ltzoo.heads import create_head
from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS


def fit(stage1_head, train, val, class_counts, settings, seed, metric):
    head = create_head("ncm", stage1_head.in_features, stage1_head.num_classes, metric=metric)
    head.fit(train.features, train.labels)
    return head.eval()


METHOD = METHODS.register(
    "ncm",
    MethodSpec(
        name="ncm",
        head="ncm",
        description="nearest class mean on L2-normalised frozen features (cosine)",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
        fit=fit,
        trains=False,
        options={"metric": "cosine"},
    ),
)
