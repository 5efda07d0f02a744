"""``python -m ltzoo.train`` / ``accelerate launch -m ltzoo.train``: the same as ``ltzoo train``."""

import sys

from ltzoo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
