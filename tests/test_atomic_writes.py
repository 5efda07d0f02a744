"""Atomic writes give the file the mode an ordinary write gives it (the umask's, or the replaced
file's), and a figure is written whole or not at all."""

from __future__ import annotations

import os

import pytest

from ltzoo.atomic import save_figure_atomic, write_text_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_umask_mode(tmp_path, umask_022):
    path = write_text_atomic(tmp_path / "results.json", "{}\n")
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "notes.txt"
    path.write_text("old\n")
    path.chmod(0o640)
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n" and path.stat().st_mode & 0o777 == 0o640


def test_a_figure_that_fails_to_render_leaves_the_old_file(tmp_path):
    from matplotlib.figure import Figure  # the report extra; the dev install has it

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    png = save_figure_atomic(fig, tmp_path / "plot.png")
    good = png.read_bytes()
    assert good[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        save_figure_atomic(fig, tmp_path / "plot.png", dpi=-1)  # matplotlib refuses mid-write
    assert png.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]
