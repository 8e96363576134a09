"""Hostile inputs, each built here, each with its named outcome: nothing runs from a shard,
nothing is read outside the corpus root, nothing hangs, nothing is silently wrong."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import tarfile
from pathlib import Path

import pytest

import jobs
from etl.read import UnsafeMemberError, decode_sample, iter_samples, shard_urls
from etl.store import Store, resolve_dataset, verify
from jobs import custom
from tests.media import write_wav

MARKER = "/tmp/mer-etl-pwned"


class _Boom:
    """Unpickling this runs code: it writes MARKER."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _add_member(tar_path: Path, name: str, data: bytes) -> None:
    """Append a member to an existing (uncompressed) tar shard, as an attacker would."""
    with tarfile.open(tar_path, "a") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _poison(version: Path, tar: Path, member: str, data: bytes) -> None:
    """Add a member and re-sign the card, so `verify` alone cannot catch it."""
    import hashlib

    _add_member(tar, member, data)
    card_path = version / "dataset.json"
    card = json.loads(card_path.read_text())
    rel = str(tar.relative_to(version))
    blob = tar.read_bytes()
    card["files"][rel] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    card_path.write_text(json.dumps(card))


@pytest.fixture
def dataset_copy(demo_run, tmp_path):
    import shutil

    _, result = demo_run
    dest = tmp_path / "ds"
    shutil.copytree(result.path, dest)
    return dest


@pytest.mark.parametrize("member,data", [
    ("pyd", pickle.dumps(_Boom())),
    ("pickle", pickle.dumps(_Boom())),
    ("pth", pickle.dumps(_Boom())),
    ("egemaps.functionals.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': "
                                b"False, 'shape': (1,), }" + b" " * 60 + b"\n"
                                + pickle.dumps([_Boom()])),
])
def test_a_pickle_member_in_a_shard_never_runs(dataset_copy, member, data):
    Path(MARKER).unlink(missing_ok=True)
    tar = sorted((dataset_copy / "shards").glob("shard-*.tar"))[0]
    with tarfile.open(tar) as fh:
        key = json.loads(fh.extractfile(fh.getmembers()[0]).read())["utt_id"]
    _poison(dataset_copy, tar, f"{key}.{member}", data)
    assert verify(resolve_dataset(str(dataset_copy))) == []  # the card was re-signed
    with pytest.raises(UnsafeMemberError, match=re.escape(f"member {key}.{member}")):
        list(iter_samples(str(dataset_copy), extractors=[]))
    assert not Path(MARKER).exists()


def test_decode_sample_reads_only_our_format():
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(3, dtype=np.float32))
    out = decode_sample({"__key__": "k", "json": b'{"a": 1}', "x.npy": buf.getvalue(),
                         "faces.crop.0001.jpg": b"\xff\xd8"})
    assert out["json"] == {"a": 1} and out["x.npy"].tolist() == [0, 1, 2]
    assert out["faces.crop.0001.jpg"] == b"\xff\xd8"
    with pytest.raises(UnsafeMemberError, match=r"a \.exe member is not part of the mer-etl"):
        decode_sample({"__key__": "k", "__url__": "u.tar", "x.exe": b"MZ"})


def test_a_card_naming_dotdot_is_never_followed(dataset_copy, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    card_path = dataset_copy / "dataset.json"
    card = json.loads(card_path.read_text())
    card["files"]["../secret.txt"] = {"sha256": "0" * 64, "bytes": 11}
    card["files"]["shards/../../secret.txt"] = {"sha256": "0" * 64, "bytes": 11}
    card_path.write_text(json.dumps(card))
    problems = verify(Store(str(dataset_copy)))
    assert sum(p.startswith("unsafe path in the card") for p in problems) == 2
    with pytest.raises(ValueError, match="not a relative path inside the dataset"):
        Store(str(dataset_copy)).read_bytes("../secret.txt")
    card["files"] = {"shards/egemaps/../../../secret.tar": {}, **card["files"]}
    card_path.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="not a relative path inside the dataset"):
        shard_urls(str(dataset_copy), "egemaps")


# -- custom manifests: one path policy for every media reference -------------------------------

def _table_job(tmp_path: Path, rows: list[str], header: str = "file,label,video") -> str:
    corpus = tmp_path / "corpus"
    write_wav(corpus / "a.wav", 0.3)
    write_wav(corpus / "sub" / "b.wav", 0.3)
    write_wav(tmp_path / "outside.wav", 0.3)
    (corpus / "table.csv").write_text("\n".join([header, *rows]) + "\n")
    return str(corpus / "table.csv")


def _custom_manifest(table: str, root: str | None = None):
    spec = custom.load_job(None, corpus="mine", manifest=table,
                           columns={"media": "file", "label": "label", "video": "video"},
                           labels={"h": "happy"})
    adapter = custom.make_adapter(spec)
    return jobs.build_manifest(adapter, root or custom.default_root(spec))


def test_custom_rows_cannot_leave_the_root(tmp_path):
    link = tmp_path / "corpus" / "link.wav"
    table = _table_job(tmp_path, [
        "a.wav,h,", "sub/b.wav,h,", "../outside.wav,h,", f"{tmp_path}/outside.wav,h,",
        "file:///etc/passwd,h,", "/etc/passwd,h,", "sub/../../outside.wav,h,", "link.wav,h,"])
    link.symlink_to(tmp_path / "outside.wav")
    m = _custom_manifest(table)
    assert sorted(m.table["utt_id"].to_pylist()) == ["mine_a", "mine_b"]
    unsafe = [p for p in m.problems.to_pylist() if p["error_type"] == "UnsafePath"]
    assert len(unsafe) == 6, unsafe
    assert all("outside the corpus root" in p["message"] or "another filesystem" in p["message"]
               for p in unsafe)
    # nothing outside was hashed into the manifest
    assert not any("outside" in (u or "") or "passwd" in (u or "")
                   for u in m.table["audio_uri"].to_pylist())


def test_custom_video_column_follows_the_same_policy_and_root(tmp_path):
    from tests.corpora import video

    table = _table_job(tmp_path, ["a.wav,h,clip.mp4", "sub/b.wav,h,../secret.mp4",
                                  "a.wav,h,missing.mp4"], header="file,label,video")
    video(tmp_path / "corpus" / "clip.mp4")
    video(tmp_path / "secret.mp4")
    # a.wav twice: the first row wins, the duplicate is a counted problem naming its line
    m = _custom_manifest(table)
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    assert rows["mine_a"]["video_uri"] == str(tmp_path / "corpus" / "clip.mp4")  # table's folder
    assert rows["mine_b"]["video_uri"] is None  # video refused, audio kept
    kinds = sorted((p["error_type"], p["message"][:40]) for p in m.problems.to_pylist())
    assert [k for k, _ in kinds] == ["DuplicateRow", "LabelWithoutMedia", "UnsafePath"]
    (dup,) = [p for p in m.problems.to_pylist() if p["error_type"] == "DuplicateRow"]
    assert dup["path"].endswith("table.csv:4") and "first row is kept" in dup["message"]


def test_non_utf8_names_and_fifos_are_recorded_not_fatal(tmp_path):
    root = tmp_path / "RAVDESS" / "Actor_01"
    write_wav(root / "03-01-01-01-01-01-01.wav", 0.2)
    bad = os.fsencode(str(root)) + b"/03-01-02-01-01-01-01\xff.wav"
    with open(bad, "wb") as fh:
        fh.write((root / "03-01-01-01-01-01-01.wav").read_bytes())
    os.mkfifo(root / "03-01-03-01-01-01-01.wav")  # named like media; reading it would block
    m = jobs.build_manifest("ravdess", str(tmp_path / "RAVDESS"))
    assert m.table["utt_id"].to_pylist() == ["ravdess_01-01-01-01-01-01"]
    problems = {p["error_type"]: p for p in m.problems.to_pylist()}
    assert problems["UndecodableName"]["path"].endswith("03-01-02-01-01-01-01\\xff.wav")
    assert problems["NotARegularFile"]["path"].endswith("03-01-03-01-01-01-01.wav")


def test_null_splits_do_not_crash_the_summary(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rich.console import Console

    from etl.summary import label_table

    version = tmp_path / "v"
    version.mkdir()
    pq.write_table(pa.table({"corpus": ["x", "x"], "split": [None, "train"],
                             "label": ["happy", None]}), version / "utterances.parquet")
    console = Console(file=io.StringIO(), width=120)
    console.print(label_table(Store(str(version))))
    assert "(none)" in console.file.getvalue()
