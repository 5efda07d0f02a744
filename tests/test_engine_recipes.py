"""The Accelerate configs under recipes/accelerate load with Accelerate's own reader and describe
launches Accelerate can make (the 2-process CPU one is launched in test_engine_multiprocess.py;
the engine recipes run on digits in test_recipes.py)."""

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from tests.conftest import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "recipes" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_accelerate_config_describes_a_launch(path):
    cfg = load_config_from_file(str(path))
    assert cfg.use_cpu is False and cfg.num_machines >= 1
    # every machine runs the same number of processes; one process means no distributed setup
    assert cfg.num_processes % cfg.num_machines == 0
    assert (cfg.distributed_type.value == "NO") == (cfg.num_processes == 1)
    if cfg.num_machines > 1:
        assert cfg.main_process_ip and cfg.main_process_port
