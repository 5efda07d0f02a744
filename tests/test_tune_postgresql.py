"""ltzoo tune on a real PostgreSQL server: two worker processes on one study, as on two machines.

The server is started here (``initdb`` + ``pg_ctl``) in a temporary folder, on a free loopback
port, and stopped at the end of the module. PostgreSQL refuses to run as root; as root, the
server runs as ``nobody`` (``runuser``). The binaries are looked up on PATH, then in Debian's
``/usr/lib/postgresql/*/bin`` (``apt-get install postgresql``; ``.ci/run`` installs it).
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import psycopg
import pytest
import sqlalchemy

from ltzoo.cli import main
from ltzoo.tuning.study import open_storage

FAST = ["stage1.epochs=1", "stage2.epochs=1", "stage2.methods=[lws]"]
PARAMS = ["stage1.lr=loguniform:1e-3:0.3", "stage1.weight_decay=loguniform:1e-5:1e-2"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
BEST = re.compile(
    r"^best: trial (\d+), mean_per_class = ([0-9.]+) \(validation, lws\); (\{.*\})$", re.M
)


def _pg_bin(name: str):
    found = shutil.which(name)
    if found:
        return found
    debian = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return debian[-1] if debian else None


INITDB, PG_CTL = _pg_bin("initdb"), _pg_bin("pg_ctl")
pytestmark = pytest.mark.skipif(
    not (INITDB and PG_CTL),
    reason="PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(argv):
    """PostgreSQL will not run as root: as root, run ``argv`` as ``nobody``."""
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def postgres():
    """A fresh PostgreSQL cluster; yields a function that creates a database and returns its URL."""
    # not under pytest's tmp_path: its parents are root-only, and the server may run as nobody
    folder = Path(tempfile.mkdtemp(prefix="ltzoo-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody")
    data, log = folder / "data", folder / "server.log"
    user, port, started = "ltzoo", None, None
    run = dict(cwd=folder, capture_output=True, text=True, timeout=120)
    try:
        initdb = [INITDB, "-D", str(data), "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8"]
        made = subprocess.run(_as_server_user(initdb), **run)
        assert made.returncode == 0, made.stderr[-2000:]
        for _ in range(3):  # another process may take the free port before the server binds it
            port = _free_port()
            options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            start = [PG_CTL, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options]
            started = subprocess.run(_as_server_user([*start, "start"]), **run)
            if started.returncode == 0:
                break
        assert started.returncode == 0, started.stderr + (log.read_text() if log.exists() else "")

        def database(name: str) -> str:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=user, dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{name}"

        yield database
    finally:
        if started is not None and started.returncode == 0:
            stop = [PG_CTL, "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run(_as_server_user(stop), **run)
        shutil.rmtree(folder, ignore_errors=True)


def _worker(url, output_dir, seed):
    argv = [sys.executable, "-m", "ltzoo.cli", "tune"]
    argv += sum((["--param", p] for p in PARAMS), []) + sum((["--set", s] for s in FAST), [])
    argv += ["--method", "lws", "--trials", "4", "--pruner", "none", "--seed", str(seed)]
    argv += ["--storage", url, "--study-name", "shared", "--output-dir", str(output_dir)]
    return subprocess.Popen(
        argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(postgres, tmp_path):
    url = postgres("study")
    # two "machines": each worker has its own output folder; both start at once (racing to create
    # the study's tables) and ask for the same study total
    dirs = [tmp_path / "machine_a", tmp_path / "machine_b"]
    workers = [_worker(url, d, seed) for d, seed in zip(dirs, (1, 2))]
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]

    study = optuna.load_study(study_name="shared", storage=url)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    # exactly the requested total ran; a trial both workers asked for at one moment is refused, not run
    assert len(complete) == 4
    assert all(t.user_attrs.get("surplus") for t in study.trials if t.state.name != "COMPLETE")
    assert len({t.number for t in complete}) == 4
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4
    assert len({round(t.value, 6) for t in complete}) > 1  # the best is a real choice
    # both workers ran trials, each in its own folder, and only there
    host = socket.gethostname()
    for w, folder in zip(workers, dirs):
        mine = {t.number for t in complete if t.user_attrs["worker"] == f"{host}:{w.pid}"}
        assert mine, "a worker ran no trial"
        assert {int(p.parent.name[6:]) for p in folder.glob("trial_*/results.json")} == mine
    # every worker reports the same best trial, the one the database holds
    best = study.best_trial
    assert best.value == max(t.value for t in complete)
    for (out, _), folder in zip(outputs, dirs):
        found = BEST.search(out)
        assert found, out
        number, value, params = found.groups()
        assert int(number) == best.number and float(value) == pytest.approx(best.value, abs=5e-5)
        assert json.loads(params) == best.params
        written = json.loads((folder / "best.json").read_text())
        assert written["trial"] == best.number and written["value"] == best.value
        assert written["finished_trials"] == 4


def test_a_database_that_does_not_exist_is_one_line(postgres, tmp_path, capsys):
    url = postgres("exists").replace("/exists", "/nope")
    argv = ["tune", "--param", PARAMS[0], "--storage", url, "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--storage '{url}' cannot be opened" in err and 'database "nope" does not exist' in err
    assert not (tmp_path / "out").exists()


def test_plain_postgresql_url_uses_sqlalchemys_default_driver(postgres, monkeypatch):
    """``postgresql://`` means SQLAlchemy's default PostgreSQL driver: psycopg 3 from SQLAlchemy
    2.1, psycopg2 before (then, without psycopg2, one line says what to install);
    ``postgresql+psycopg://`` names psycopg 3 with either."""
    url = postgres("plain").replace("postgresql+psycopg://", "postgresql://")
    default = sqlalchemy.engine.make_url(url).get_dialect().driver
    if default == "psycopg":
        study = optuna.create_study(storage=open_storage(url), study_name="s")
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert [t.state.name for t in optuna.load_study(study_name="s", storage=url).trials] == [
            "COMPLETE",
            "COMPLETE",
        ]
    else:
        monkeypatch.setitem(sys.modules, default, None)
        with pytest.raises(ValueError, match=f"database driver '{default}' is not installed"):
            open_storage(url)
