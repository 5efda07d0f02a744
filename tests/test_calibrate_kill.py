"""``ltzoo calibrate`` replaces the weights, timm's config and its report together: killed between
any two of its file operations, the run folder holds the old three or, once the next command has
taken the folder (``ltzoo.run_folder.hold``), the new three, never a mix."""

import shutil
import subprocess
import sys
import textwrap

import pytest

from ltzoo.run_folder import CALIBRATION, MODEL, TIMM_CONFIG, hold, release_all

# calibrate in a fresh interpreter that dies (os._exit, as a kill) at its K-th os.replace or
# os.fsync: every write of ltzoo's atomic writers and every step of the switch is one of them
KILLED_AT = textwrap.dedent(
    """
    import os, sys
    from ltzoo.cli import main

    run, k = sys.argv[1], int(sys.argv[2])
    calls = [0]

    def dying(real):
        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                os._exit(9)
            return real(*args, **kwargs)
        return call

    os.replace, os.fsync = dying(os.replace), dying(os.fsync)
    status = main(["calibrate", run])
    print(calls[0], file=sys.stderr)
    sys.exit(status)
    """
)


def _state(run):
    return tuple(
        (run / name).read_bytes() if (run / name).is_file() else None
        for name in (MODEL, TIMM_CONFIG, CALIBRATION)
    )


def _calibrate(run, k):
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AT, str(run), str(k)], capture_output=True, text=True
    )
    return done.returncode, done.stderr


@pytest.mark.slow
def test_a_kill_between_any_two_writes_leaves_the_old_or_the_new_calibration(digits_run, tmp_path):
    source = digits_run[0]
    old_run = shutil.copytree(source, tmp_path / "old")
    old = _state(old_run)
    status, err = _calibrate(old_run, 10**9)
    assert status == 0, err
    operations = int(err.strip().splitlines()[-1])
    new = _state(old_run)
    assert new != old and new[2] is not None and old[2] is None
    # the switch itself: three files written and synced, one rename, three moves into place
    assert operations >= 7
    outcomes = {"old": 0, "new": 0}
    for k in range(1, operations + 1):
        run = shutil.copytree(source, tmp_path / f"killed_at_{k}")
        status, err = _calibrate(run, k)
        assert status == 9, (k, err)
        hold(run)  # the next command to take the folder completes or undoes the update
        release_all()
        state = _state(run)
        assert state in (old, new), f"killed at operation {k}: a mix of old and new files"
        outcomes["old" if state == old else "new"] += 1
        assert not any(p.name.startswith(".ltzoo-") for p in run.iterdir()), k
    # kills before the switch leave the old state, kills after it the new one
    assert outcomes["old"] >= 1 and outcomes["new"] >= 3
