"""Shards are written on the Ray workers: the driver sees only small rows (ids, outcomes,
timings) and each file's sha256 and size, hashed while writing; the output is the same."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mer_etl import collect
from mer_etl.media.arrays import rows_to_table
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


def test_feature_rows_of_arrays_make_the_same_parquet_as_python_lists():
    """The writer builds array columns from numpy without a Python float per element; the
    table and its Parquet bytes are those of the element-by-element path, nulls, empty
    lists, NaN, float64 arrays cast to float32 and integer lists included."""
    rng = np.random.default_rng(0)
    schema = pa.schema([pa.field("utt_id", pa.string(), nullable=False),
                        pa.field("x", pa.float32()), pa.field("v", pa.list_(pa.float32())),
                        pa.field("m", pa.list_(pa.list_(pa.float32()))),
                        pa.field("i", pa.list_(pa.int64()))])
    rows = []
    for k in range(60):
        n = int(rng.integers(0, 5))
        rows.append({"utt_id": str(k), "x": float(rng.normal()),
                     "v": None if k % 7 == 3 else rng.normal(size=n),  # float64: cast
                     "m": None if k % 5 == 1 else rng.normal(size=(n, 3)).astype(np.float32),
                     "i": np.arange(n)})
    rows[4]["m"] = np.full((2, 3), np.nan, np.float32)
    as_lists = [{k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in r.items()}
                for r in rows]

    def parquet(table: pa.Table) -> bytes:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()

    fast = rows_to_table(rows, schema)
    assert fast.schema == schema and fast.num_rows == 60
    assert parquet(fast) == parquet(pa.Table.from_pylist(as_lists, schema=schema))
    assert fast["v"][3].as_py() is None and fast["m"][1].as_py() is None
    assert fast["m"][4].as_py()[1][2] != fast["m"][4].as_py()[1][2]  # NaN stays NaN


def test_a_writer_process_writes_tars_without_importing_torch():
    """Writer actors import webdataset with torch hidden (etl.collect); tars still come out
    the same, and torch stays importable in that process afterwards."""
    code = (
        "import sys\n"
        "from mer_etl.collect import _without_torch\n"
        "_without_torch()\n"
        "from mer_etl.writer import _tar\n"
        "tar = _tar([{'__key__': 'a', 'x.json': b'{}'}])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "import torch\n"
        "sys.stdout.buffer.write(tar)\n")
    hidden = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    from mer_etl.writer import _tar

    assert hidden.stdout == _tar([{"__key__": "a", "x.json": b"{}"}])
