"""tau-normalisation (Kang et al., ICLR'20, Eq. 2), with tau chosen on the validation split.

Every tau of ``cfg.tau_grid`` (default 0.0, 0.1, ..., 2.0) is tried on the validation features,
carved from the training set (never the test set), and the one with the highest mean per-class
accuracy is kept, as seed 000 does; ties go to the smallest tau. Post-hoc: no training.
"""

import torch

from ltzoo.heads import create_head
from ltzoo.registry import STAGE2


def mean_per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    correct = (logits.argmax(1) == labels).float()
    totals = torch.bincount(labels, minlength=num_classes).float()
    hits = torch.zeros(num_classes).index_add_(0, labels, correct)
    present = totals > 0
    return float((hits[present] / totals[present]).mean())


@STAGE2.register("tau")
def fit_tau(stage1_head, train, val, class_counts, cfg, seed, **options):
    head = create_head("tau_norm", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
    grid = options.get("tau_grid", cfg.tau_grid)
    selection = val if val is not None and len(val.labels) else train
    scores = []
    with torch.no_grad():
        for tau in grid:
            head.set_tau(tau)
            scores.append(mean_per_class_accuracy(head(selection.features), selection.labels, head.num_classes))
    best = max(range(len(grid)), key=lambda i: (scores[i], -grid[i]))
    head.set_tau(grid[best])
    head.selection = {"tau_grid": list(grid), "val_mean_per_class_accuracy": scores, "tau": grid[best]}
    return head.eval()


fit_tau.options = ("tau_grid",)
