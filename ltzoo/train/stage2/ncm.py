"""NCM, nearest class mean (Kang et al., ICLR'20, Sec. 4): class means of the L2-normalised
training features, cosine similarity at test time. No training."""

from ltzoo.heads import create_head
from ltzoo.train.stage2.spec import Stage2Method, register


def fit_ncm(stage1_head, train, val, class_counts, settings, seed, metric):
    head = create_head("ncm", stage1_head.in_features, stage1_head.num_classes, metric=metric)
    head.fit(train.features, train.labels)
    return head.eval()


register(
    Stage2Method(
        "ncm",
        fit_ncm,
        paper="Kang et al., ICLR'20, Sec. 4",
        trains=False,
        options={"metric": "cosine"},
    )
)
