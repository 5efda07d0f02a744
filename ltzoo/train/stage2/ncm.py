"""NCM, nearest class mean (Kang et al., ICLR'20, Sec. 4): class means of the L2-normalised
training features, cosine similarity at test time. No training."""

from ltzoo.heads import create_head
from ltzoo.registry import STAGE2


@STAGE2.register("ncm")
def fit_ncm(stage1_head, train, val, class_counts, cfg, seed, **options):
    head = create_head("ncm", stage1_head.in_features, stage1_head.num_classes, metric=options.get("metric", "cosine"))
    head.fit(train.features, train.labels)
    return head.eval()


fit_ncm.options = ("metric",)
