import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR100 = REPO_ROOT.parent / "shared" / "data" / "cifar100"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
