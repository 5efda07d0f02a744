"""Argument types of the command line: each checks its value's range as argparse reads it, so a bad
value is refused before any work starts, in one line that names the option (``argument --topk: 0 is
not allowed; it must be an integer >= 1``). Paths are checked for what they must be (an existing
folder, an existing file, a place a file or folder can be written); whether an output is also one of
the command's inputs only the command knows (:func:`check_not_an_input`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable, Iterable, Optional

from ltzoo.errors import InputError


def _refuse(value: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{value!r} is not allowed; {allowed}")


def integer(minimum: int = 1, maximum: Optional[int] = None) -> Callable[[str], int]:
    """An integer in ``[minimum, maximum]``."""
    allowed = f"it must be an integer >= {minimum}" + (
        f" and <= {maximum}" if maximum is not None else ""
    )

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _refuse(text, allowed) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise _refuse(text, allowed)
        return value

    parse.__name__ = "integer"
    return parse


def number(
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    above: Optional[float] = None,
) -> Callable[[str], float]:
    """A finite number, ``>= minimum`` and ``<= maximum`` (or ``> above``) where given."""
    bounds = [f">= {minimum:g}"] if minimum is not None else []
    bounds += [f"> {above:g}"] if above is not None else []
    bounds += [f"<= {maximum:g}"] if maximum is not None else []
    allowed = "it must be a finite number" + (" " + " and ".join(bounds) if bounds else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _refuse(text, allowed) from None
        if (
            not math.isfinite(value)
            or (minimum is not None and value < minimum)
            or (above is not None and value <= above)
            or (maximum is not None and value > maximum)
        ):
            raise _refuse(text, allowed)
        return value

    parse.__name__ = "number"
    return parse


def text(value: str) -> str:
    """A string that is not empty (nor only spaces)."""
    if not value.strip():
        raise _refuse(value, "it must not be empty")
    return value


def folder(value: str) -> str:
    """An existing folder."""
    text(value)
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value!r} does not exist; it must be a folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a file; it must be a folder")
    return value


def file(value: str) -> str:
    """An existing file (not a folder)."""
    text(value)
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value!r} does not exist; it must be a file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; it must be a file")
    return value


def output_file(value: str) -> str:
    """A file to write: not empty, not a folder, in a folder that exists or can be made."""
    text(value)
    if value != "-" and Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; it must name a file to write")
    _check_parents(value)
    return value


def output_folder(value: str) -> str:
    """A folder to write into: not empty, not an existing file."""
    text(value)
    if Path(value).exists() and not Path(value).is_dir():
        raise argparse.ArgumentTypeError(
            f"{value!r} is a file; it must name a folder to write into"
        )
    _check_parents(value)
    return value


def _check_parents(value: str) -> None:
    for parent in Path(value).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{value!r} cannot be written: {str(parent)!r} is a file"
                )
            return


def check_not_an_input(option: str, output: Optional[str], inputs: Iterable[str]) -> None:
    """Refuse an output that is one of the inputs or lies inside one (a report written into a
    run folder); a folder that merely holds an input is a fine place for an output."""
    if not output or output == "-":
        return
    target = Path(output).resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or source in target.parents:
            raise InputError(
                f"{option} {output!r} is not allowed: it is or lies inside the input "
                f"{given!r}; write the output somewhere else"
            )
