"""Progress bars only on a terminal: a run whose stderr is a file or a pipe prints no bar refreshes,
and logs one line per stage-1 epoch instead."""

import logging

from ltzoo.cli import main


def test_no_progress_bar_off_a_terminal(tmp_path, capfd, caplog):
    argv = ["train", "--output-dir", str(tmp_path / "run"), "--set", "stage1.epochs=2"]
    argv += ["--set", "stage2.methods=[crt]", "--set", "progress=true"]
    with caplog.at_level(logging.INFO, logger="ltzoo"):
        assert main(argv) == 0
    out, err = capfd.readouterr()
    assert "%|" not in err and "\r" not in err and "%|" not in out
    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stage 1 epoch=")]
    assert len(epochs) == 2 and epochs[0].startswith("stage 1 epoch=0 ")
