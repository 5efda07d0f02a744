"""A reloaded run's datasets, checked against what the run recorded about its data.

``ltzoo eval`` and ``ltzoo calibrate`` build the recipe's datasets again, maybe from another root
(``--data-root``). Before any work, the class names of that data are compared with the names the
run stored (``results.json``'s ``class_names``): when they differ the command refuses in one line
naming the first difference (:func:`ltzoo.data.identity.match_classes`), and nothing is written.
With ``allow_other_data`` the classes are mapped by name instead (a tree whose folders are ordered
differently evaluates correctly); missing or unknown names are still refused.

A run folder written before class names were stored falls back to ``config.json``'s
``label_names``, and without those to the run's number of outputs: only the count is compared, and
one warning line says so. A data digest that differs from the recorded one (other images, another
split) is reported in one warning line: the numbers then describe this data, not the run's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional

from ltzoo.data.identity import data_digest, match_classes, relabel
from ltzoo.run_folder import TIMM_CONFIG, read_json, read_results
from ltzoo.train.assemble import build_datasets
from ltzoo.train.config import RunConfig

logger = logging.getLogger(__name__)


def recorded_class_names(run_dir: Path, results: Dict[str, Any]):
    """(the run's class names or None, its number of outputs or None)."""
    timm_config = read_json(run_dir / TIMM_CONFIG)
    names = results.get("class_names") or timm_config.get("label_names")
    return names, timm_config.get("num_classes")


def checked_datasets(
    run_dir: Path, cfg: RunConfig, allow_other_data: bool = False
) -> Dict[str, Optional[Any]]:
    """``build_datasets(cfg)``, refused (``InputError``) when the data's classes are not the
    run's, or relabelled to the run's classes by name with ``allow_other_data``."""
    results = read_results(run_dir)
    names, count = recorded_class_names(Path(run_dir), results)
    splits = build_datasets(cfg)
    data_names = list(splits["test"].classes)
    if names is None:
        logger.warning(
            f"{run_dir} stores no class names (an older run folder): only the number of classes "
            f"({len(data_names)}) is compared with the run's"
        )
    mapping = match_classes(names, data_names, by_name=allow_other_data, run_count=count)
    if mapping is not None:
        logger.warning(
            f"the data's classes are ordered differently; mapped to the run's by name "
            f"({sum(i != j for i, j in enumerate(mapping))} of {len(mapping)} classes moved)"
        )
        for split in splits.values():
            if split is not None:
                relabel(split, mapping, names)
    recorded = (results.get("data") or {}).get("digest", {}).get("sha256")
    if recorded is not None:
        current = data_digest(splits["train"], splits["test"])["sha256"]
        if current != recorded:
            logger.warning(
                f"the data's image lists differ from the run's (digest {current[:12]}, the run "
                f"recorded {recorded[:12]}): the numbers below describe this data"
            )
    return splits


__all__ = ["checked_datasets", "recorded_class_names"]
