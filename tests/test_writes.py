"""Shards are written on the Ray workers: the driver sees only small rows (ids, outcomes,
timings) and each file's sha256 and size, hashed while writing; the output is the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mer_etl import collect
from mer_etl.pipeline import plan, run
from mer_etl.store import Store, verify


def _files(root: str) -> dict[str, bytes]:
    base = Path(root)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and p.name != "dataset.json"}


def test_the_driver_writes_no_shard_and_reads_no_file_back(demo_run, tmp_path, monkeypatch):
    cfg, ref = demo_run
    seen_columns: set[str] = set()
    add = collect.Collector.add

    def spy_add(self, row, piece=None):
        seen_columns.update(row)
        assert piece is not None  # every row of a healthy run comes from the object store
        return add(self, row, piece)

    by_driver: list[str] = []
    write_bytes = Store.write_bytes

    def spy_write(self, rel, data):
        by_driver.append(rel)
        return write_bytes(self, rel, data)

    def no_read_back(self, rel):
        raise AssertionError(f"{rel} read back to hash it")

    monkeypatch.setattr(collect.Collector, "add", spy_add)
    monkeypatch.setattr(Store, "write_bytes", spy_write)
    monkeypatch.setattr(Store, "sha256", no_read_back)
    result = run(dataclasses.replace(cfg, out=str(tmp_path)))
    monkeypatch.undo()

    assert seen_columns and not [col for col in seen_columns if col.endswith(".blob")]
    # The driver wrote the dataset-wide tables and the card, and none of a shard's files.
    assert sorted(by_driver) == ["cues.parquet", "dataset.json", "errors.parquet",
                                 "utterances.parquet"]
    assert result.version == ref.version
    assert result.card["files"] == ref.card["files"]  # the hashes taken while writing
    assert _files(result.path) == _files(ref.path)
    assert verify(Store(result.path)) == []


def test_a_failed_write_stops_the_run_naming_the_shard(demo_run, tmp_path):
    cfg, _ = demo_run
    cfg = dataclasses.replace(cfg, out=str(tmp_path))
    version = Path(plan(cfg).store.path)
    (version / "features").mkdir(parents=True)
    (version / "features" / "egemaps").write_text("a file where the directory goes")
    with pytest.raises(collect.WriteFailed,
                       match=r"writing shard \d+ to .* failed: (FileExistsError|NotADirectory)"):
        run(cfg)
    assert not (version / "dataset.json").exists()  # never complete with a shard missing
