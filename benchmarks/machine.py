"""One line naming the machine a benchmark ran on: the GPU when one is used, the CPU model,
cores, torch threads and versions. Every script under ``benchmarks/`` prints it with its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: str = "auto") -> str:
    """``device`` "cuda" (or "auto" with CUDA available) names the GPU first."""
    gpu = ""
    if device != "cpu" and torch.cuda.is_available():
        gpu = f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}); host "
    return (
        f"{gpu}{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
