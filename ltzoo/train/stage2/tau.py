"""tau-normalisation (Kang et al., ICLR'20, Eq. 2), with tau chosen on the validation split.

Every tau of ``tau_grid`` (default ``stage2.tau_grid``: 0.0, 0.1, ..., 2.0) is tried on the
validation features, carved from the training set (never the test set), and the one with the
highest mean per-class accuracy is kept; ties go to the smallest tau. Without a validation split
(``data.val_fraction: 0``) the choice is refused unless ``select_on: train`` (or
``stage2.select_on: train``) says to choose on the training features, which is warned about and
recorded in ``head.selection["split"]``. Post-hoc: no training.
"""

import warnings

import torch

from ltzoo.errors import ConfigError
from ltzoo.evaluation import mean_per_class_accuracy
from ltzoo.heads import create_head
from ltzoo.train.stage2.spec import Stage2Method, register


def selection_split(val, train, select_on: str, method: str):
    """``(features, split name)`` a method chooses on: ``val`` when there is one; the training
    features only when ``select_on == "train"`` (with a warning); otherwise ``ConfigError``."""
    if val is not None and len(val.labels):
        return val, "val"
    if select_on != "train":
        raise ConfigError(
            f"stage 2 method {method!r} chooses on a validation split and there is none "
            "(data.val_fraction=0); set data.val_fraction > 0, or stage2.select_on=train to "
            "choose on the training features"
        )
    warnings.warn(
        f"{method}: no validation split; choosing on the training features (stage2.select_on=train)",
        UserWarning,
        stacklevel=2,
    )
    return train, "train"


def fit_tau(stage1_head, train, val, class_counts, settings, seed, tau_grid, select_on):
    head = create_head("tau_norm", stage1_head.in_features, stage1_head.num_classes)
    head.load_linear(stage1_head.fc.weight, stage1_head.fc.bias)
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


def check_options(options) -> None:
    """``method_options.tau.tau_grid`` obeys ``stage2.tau_grid``'s schema (a non-empty list of taus >= 0)."""
    from pydantic import TypeAdapter, ValidationError

    from ltzoo.train.config import TauGrid

    try:
        TypeAdapter(TauGrid).validate_python(options["tau_grid"], strict=True)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        raise ValueError(
            f"tau_grid={options['tau_grid']!r} is not allowed: {problem['msg'].lower()} "
            "(a non-empty list of taus >= 0)"
        ) from None


register(
    Stage2Method(
        "tau",
        fit_tau,
        paper="Kang et al., ICLR'20, Eq. 2",
        trains=False,
        options={"tau_grid": None, "select_on": None},
        check=check_options,
    )
)
