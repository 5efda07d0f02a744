import os
from pathlib import Path

import pytest
import torch

# The suite runs as 2 pytest-xdist workers on 2 cores: one thread each (and in every training
# subprocess they start), or torch's thread pools oversubscribe the cores and stall.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR100 = REPO_ROOT.parent / "shared" / "data" / "cifar100"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
