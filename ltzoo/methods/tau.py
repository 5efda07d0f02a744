"""tau-normalisation (Kang et al., "Decoupling Representation and Classifier for Long-Tailed
Recognition", ICLR 2020, Eq. 2), with tau chosen on the validation split.

Every tau of ``tau_grid`` (default ``stage2.tau_grid``: 0.0, 0.1, ..., 2.0) is tried on the
validation features, carved from the training set (never the test set), and the one with the
highest mean per-class accuracy is kept; ties go to the smallest tau. Without a validation split
(``data.val_fraction: 0``) the choice is refused unless ``select_on: train`` (or
``stage2.select_on: train``) says to choose on the training features, which is warned about and
recorded in ``head.selection["split"]``. Post-hoc: no training.
"""

from typing import Annotated, List

import torch
from pydantic import Field, TypeAdapter, ValidationError

from ltzoo.evaluation import mean_per_class_accuracy
from ltzoo.heads import head_from_stage1
from ltzoo.methods.spec import MethodSpec, selection_split
from ltzoo.registry import METHODS

# the tau-normalisation exponents to try: a non-empty list of numbers >= 0
TauGrid = Annotated[List[Annotated[float, Field(ge=0)]], Field(min_length=1)]


def fit(stage1_head, train, val, class_counts, settings, seed, tau_grid, select_on):
    head = head_from_stage1("tau_norm", stage1_head)
    selection, split = selection_split(val, train, select_on, "tau")
    scores = []
    with torch.no_grad():
        for tau in tau_grid:
            head.set_tau(tau)
            scores.append(mean_per_class_accuracy(head(selection.features), selection.labels))
    best = max(range(len(tau_grid)), key=lambda i: (scores[i], -tau_grid[i]))
    head.set_tau(tau_grid[best])
    head.selection = {
        "split": split,
        "tau_grid": list(tau_grid),
        "mean_per_class_accuracy": scores,
        "tau": tau_grid[best],
    }
    return head.eval()


def check(options) -> None:
    """``method_options.tau.tau_grid`` obeys ``stage2.tau_grid``'s schema (a non-empty list of taus >= 0)."""
    try:
        TypeAdapter(TauGrid).validate_python(options["tau_grid"], strict=True)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        raise ValueError(
            f"tau_grid={options['tau_grid']!r} is not allowed: {problem['msg'].lower()} "
            "(a non-empty list of taus >= 0)"
        ) from None


METHOD = METHODS.register(
    "tau",
    MethodSpec(
        name="tau",
        head="tau_norm",
        description="tau-normalisation of the stage-1 classifier, tau chosen on a validation split",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
        fit=fit,
        trains=False,
        options={"tau_grid": None, "select_on": None},
        check=check,
    ),
)
