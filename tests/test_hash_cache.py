"""Media hashes are cached per (URI, stamp): a rerun over an unchanged corpus reads no media,
a changed file is read again, and the hashes are the files' own."""

from __future__ import annotations

import hashlib
import os

import pytest

from mer_etl import jobs
from mer_etl.jobs import base
from tests import corpora


@pytest.fixture
def reads(monkeypatch, tmp_path):
    monkeypatch.setenv("MER_ETL_CACHE", str(tmp_path / "cache"))
    seen: list[str] = []
    real = base.sha256_file

    def counting(fs, path):
        seen.append(path)
        return real(fs, path)

    monkeypatch.setattr(base, "sha256_file", counting)
    return seen


def test_a_rerun_reads_no_unchanged_media(tmp_path, reads):
    root = corpora.make_emodb(tmp_path / "EmoDB")
    first = jobs.build_manifest("emodb", str(root))
    n = len(reads)
    assert n == first.table.num_rows > 0
    again = jobs.build_manifest("emodb", str(root))
    assert len(reads) == n  # nothing read the second time
    assert again.table["audio_sha256"].to_pylist() == first.table["audio_sha256"].to_pylist()
    # rewrite one file with other bytes and its old mtime: read again, the new hash recorded
    path = first.table["audio_uri"][0].as_py()
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        fh.write(b"\x01")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = jobs.build_manifest("emodb", str(root))
    assert reads[n:] == [path]
    with open(path, "rb") as fh:
        assert third.table["audio_sha256"][0].as_py() == hashlib.sha256(fh.read()).hexdigest()


def test_the_cache_can_be_turned_off(tmp_path, reads, monkeypatch):
    monkeypatch.setenv("MER_ETL_HASH_CACHE", "0")
    root = corpora.make_emodb(tmp_path / "EmoDB")
    jobs.build_manifest("emodb", str(root))
    n = len(reads)
    jobs.build_manifest("emodb", str(root))
    assert len(reads) == 2 * n
