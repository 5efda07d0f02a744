"""MkDocs hooks: each ``<!-- ltzoo:NAME -->`` marker of a page becomes ``GENERATORS[NAME]()`` of
``docs/reference.py`` (an unknown marker fails the build, naming it); the Sphinx roles of ltzoo's
docstrings (``:func:`name```) render as the code name alone, as Sphinx shows them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import GENERATORS  # noqa: E402  (docs/reference.py, beside this file)

MARKER = re.compile(r"<!-- ltzoo:([a-z_]+) -->")
# a role as the docstring renderer leaves it: the role's name, then the code span of its target
# (``~a.b.C`` shows as ``C``, as in Sphinx)
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):<code>(~[\w.]*\.)?")


def on_page_markdown(markdown: str, page, config, files) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(
                f"{page.file.src_path}: unknown generated section {name!r}; "
                f"allowed: {', '.join(sorted(GENERATORS))}"
            )
        return GENERATORS[name]()

    return MARKER.sub(fill, markdown)


def on_page_content(html: str, page, config, files) -> str:
    return ROLE.sub("<code>", html)
