"""The ltzoo version (recorded in run folders and checkpoints)."""

__version__ = "0.1.0"
