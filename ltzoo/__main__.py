"""``python -m ltzoo ...``: the same as the ``ltzoo`` command (``python -m ltzoo tune --help``)."""

import sys

from ltzoo.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
