"""The per-epoch log: log.jsonl is the record, log.csv always has one header that fits every row."""

import csv
import json

from ltzoo.train.epoch_log import EpochLog


def _csv(path):
    with open(path / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_with_a_new_column_rewrite_the_csv_under_one_header(tmp_path):
    # a run written by an older ltzoo (no `images` column), resumed by one that logs it
    old = EpochLog(tmp_path)
    for epoch in range(2):
        old.write(dict(epoch=epoch, loss=1.0 - epoch / 10, lr=0.1))
    new = EpochLog(tmp_path)
    new.keep_before(2)
    new.write(dict(epoch=2, loss=0.7, images=640, lr=0.1))
    new.write(dict(epoch=3, loss=0.6, images=640, lr=0.1))
    rows = _csv(tmp_path)
    assert list(rows[0]) == ["epoch", "loss", "lr", "images"]
    assert [row["images"] for row in rows] == ["", "", "640", "640"]
    assert [float(row["loss"]) for row in rows] == [1.0, 0.9, 0.7, 0.6]
    jsonl = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in jsonl] == [0, 1, 2, 3]


def test_resume_drops_the_rows_it_trains_again_from_both_files(tmp_path):
    log = EpochLog(tmp_path)
    for epoch in range(4):
        log.write(dict(epoch=epoch, loss=float(epoch), lr=0.1))
    EpochLog(tmp_path).keep_before(2)
    assert [row["epoch"] for row in _csv(tmp_path)] == ["0", "1"]
    EpochLog(tmp_path).write(dict(epoch=2, loss=9.0, lr=0.01))
    assert [(row["epoch"], row["loss"]) for row in _csv(tmp_path)] == [
        ("0", "0.0"),
        ("1", "1.0"),
        ("2", "9.0"),
    ]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3
