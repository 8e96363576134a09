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

from mer_etl import jobs
from mer_etl.jobs import custom
from mer_etl.read import UnsafeMemberError, decode_sample, iter_samples, shard_urls
from mer_etl.store import Store, resolve_dataset, verify
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
    card_path.write_text(json.dumps({**card, "files": ["../secret.txt"]}))
    assert verify(Store(str(dataset_copy))) == [
        "the card's `files` is not a mapping path -> {sha256, bytes}"]
    card_path.write_text(json.dumps(card))
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


def test_custom_rows_with_impossible_spans_cost_their_row(tmp_path):
    table = _table_job(tmp_path, ["a.wav,h,0.5,0.2", "a.wav,h,-1,0.2", "sub/b.wav,h,0.0,0.2"],
                       header="file,label,start,end")
    spec = custom.load_job(None, corpus="mine", manifest=table,
                           columns={"media": "file", "label": "label", "start": "start",
                                    "end": "end"}, labels={"h": "happy"})
    m = jobs.build_manifest(custom.make_adapter(spec), custom.default_root(spec))
    assert m.table["utt_id"].to_pylist() == ["mine_b"]
    msgs = [p["message"] for p in m.problems.to_pylist()]
    assert len(msgs) == 2 and all("expected a span with 0 <= start < end" in s for s in msgs)


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

    from mer_etl.summary import label_table

    version = tmp_path / "v"
    version.mkdir()
    pq.write_table(pa.table({"corpus": ["x", "x"], "split": [None, "train"],
                             "label": ["happy", None]}), version / "utterances.parquet")
    console = Console(file=io.StringIO(), width=120)
    console.print(label_table(Store(str(version))))
    assert "(none)" in console.file.getvalue()


# -- decoding: nothing silently short, no NaN in an ok row -------------------------------------

def _speech_mp4(path: Path, seconds: float = 3.0) -> Path:
    """An MP4 whose index (moov) comes first, as streaming-friendly files have it."""
    import subprocess

    wav = write_wav(path.with_suffix(".wav"), seconds, 44_100)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=s=160x120:d={seconds}", "-i", str(wav), "-shortest", "-c:v",
                    "libx264", "-c:a", "aac", "-movflags", "+faststart", str(path)], check=True)
    return path


@pytest.mark.parametrize("keep", [0.55, 0.7, 0.85])
def test_a_truncated_mp4_is_a_decode_failure_not_short_audio(tmp_path, keep):
    from mer_etl.media.audio import DecodeError, decode_audio_at

    full = _speech_mp4(tmp_path / "full.mp4")
    signal, rate = decode_audio_at(str(full), None, None, 16_000)
    assert signal.size / rate == pytest.approx(3.0, abs=0.1)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DecodeError, match=r"cut\.mp4: (truncated|ffmpeg could not decode)"):
        decode_audio_at(str(cut), None, None, 16_000)
    # a span inside what survived is still fine
    assert decode_audio_at(str(cut), 0.0, 0.3, 16_000)[0].size == pytest.approx(4800, abs=160)


def test_non_finite_samples_fail_at_decode(tmp_path):
    import numpy as np
    import soundfile as sf

    from mer_etl.media.audio import DecodeError, decode_audio_at

    signal = np.zeros(16_000, np.float32)
    signal[100] = np.nan
    sf.write(tmp_path / "nan.wav", signal, 16_000, subtype="FLOAT")
    with pytest.raises(DecodeError, match="expected finite samples, found 1 NaN or Inf"):
        decode_audio_at(str(tmp_path / "nan.wav"))


def test_too_short_is_skipped_and_nan_never_leaves_an_ok_row():
    import numpy as np

    from mer_etl import extractors
    from mer_etl.stages import NonFiniteFeatures, finite

    ex = extractors.build("egemaps")
    ex.setup()
    with pytest.raises(extractors.Skip, match=r"too short: 0\.050 s < 0\.06 s"):
        ex.extract(np.zeros(800, np.float32), 16_000)
    out = ex.extract(np.zeros(960, np.float32), 16_000)  # 60 ms: every value finite
    assert all(np.isfinite(v).all() for v in out.values())
    with pytest.raises(NonFiniteFeatures, match="egemaps: NaN or Inf in functionals"):
        finite(ex, {"functionals": np.array([np.nan], np.float32)})
    faces = extractors.build("faces")  # documents its NaN (frames without the target face)
    assert finite(faces, {"box": np.full((1, 4), np.nan, np.float32)})


# -- one line, exit 2, where a traceback used to be -------------------------------------------

def _cli(*args: str, env: dict | None = None, preexec=None):
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "mer-etl")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled", "COLUMNS": "200",
                               **(env or {})}, preexec_fn=preexec)


def _one_line_exit_2(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") <= 3, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize("body,needle", [
    ("corpus: mine\nmanifest: t.csv\ncolumns: file\n", "`columns` must be a mapping"),
    ("corpus: mine\nmanifest: t.csv\nlabels: [a, b]\n", "`labels` must be a mapping"),
    ("corpus: mine\nmanifest: t.csv\nvad_range: high\n", "`vad_range` must be [min, max]"),
    ("corpus: mine\nmanifest: t.csv\nspeakers: {a: 1}\n", "`speakers` must be a mapping"),
    ("corpus: [mine\n", "expected a YAML job file"),
])
def test_bad_job_files_are_one_line(tmp_path, body, needle):
    (tmp_path / "job.yaml").write_text(body)
    proc = _cli("run", "custom", "--job", str(tmp_path / "job.yaml"), "--out", str(tmp_path / "o"))
    _one_line_exit_2(proc, needle, "job.yaml")


def test_unparsable_label_map_is_one_line(tmp_path):
    write_wav(tmp_path / "a.wav", 0.2)
    (tmp_path / "t.csv").write_text("path,emo\na.wav,h\n")
    (tmp_path / "map.yaml").write_text("h: happy\n  - broken: [\n")
    proc = _cli("run", "custom", "--manifest", str(tmp_path / "t.csv"), "--corpus-name", "mine",
                "--label-col", "emo", "--label-map", str(tmp_path / "map.yaml"), "--out",
                str(tmp_path / "o"))
    _one_line_exit_2(proc, "map.yaml:", "expected a YAML or JSON mapping")


def test_object_store_root_without_credentials_is_one_line(tmp_path):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "",
           "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    proc = _cli("manifest", "ravdess", "--root", "s3://nobucket/RAVDESS", "--out",
                str(tmp_path / "o"), env=env)
    _one_line_exit_2(proc, "ravdess: cannot reach root 's3://nobucket/RAVDESS'")


def test_full_disk_under_out_is_one_line(tmp_path):
    import resource
    import signal

    write_wav(tmp_path / "RAVDESS" / "Actor_01" / "03-01-01-01-01-01-01.wav", 0.2)

    def small_files():  # the filesystem refuses any write past 512 bytes, as a full disk does
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    proc = _cli("manifest", "ravdess", "--root", str(tmp_path / "RAVDESS"), "--out",
                str(tmp_path / "o"), env={"PYTHONDONTWRITEBYTECODE": "1"}, preexec=small_files)
    _one_line_exit_2(proc, "File too large")


# -- workers that die: bounded, named, and the run goes on -------------------------------------

def _ravdess_with_one_killer(root: Path, n: int = 6) -> None:
    for actor in range(1, n + 1):
        seconds = 2.0 if actor == 3 else 0.4  # the extractor's worker dies on clips over 1.5 s
        write_wav(root / f"Actor_{actor:02d}" / f"03-01-01-01-01-01-{actor:02d}.wav", seconds)


def _run_with_killer(tmp_path: Path, extractors: str, batch_size: int):
    """`mer-etl run` on tmp_path/RAVDESS with tests/killer.py registered (workers inherit the
    variable; PYTHONPATH lets them import the tests package)."""
    repo = str(Path(__file__).resolve().parents[1])
    env = {"MER_ETL_EXTRACTORS": "tests.killer",
           "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    return _cli("run", "ravdess", "--root", str(tmp_path / "RAVDESS"), "--out",
                str(tmp_path / "out"), "--extractors", extractors, "--num-cpus", "2",
                "--batch-size", str(batch_size), env=env)


def test_an_utterance_that_kills_its_worker_fails_alone(tmp_path):
    import polars as pl

    _ravdess_with_one_killer(tmp_path / "RAVDESS")
    proc = _run_with_killer(tmp_path, "killer,audio_stats", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = pl.read_parquet(next((tmp_path / "out" / "ravdess").glob("*/status/killer/*.parquet")))
    bad = st.filter(pl.col("status") == "failed")
    assert bad["utt_id"].to_list() == ["ravdess_01-01-01-01-01-03"]
    assert bad["stage"].to_list() == ["worker"]
    assert bad["reason"][0] in ("WorkerDied", "OutOfMemory")
    assert st.filter(pl.col("status") == "ok").height == 5  # the rest landed


def test_long_media_is_bounded_and_fails_by_name(tmp_path):
    """Over the limit: decode stops just past it (memory bounded) and the utterance fails as
    TooLongError; a span within the limit from the same long file is fine."""
    from mer_etl.media.audio import TooLongError, decode_audio_at

    long_wav = write_wav(tmp_path / "long.wav", 30.0, 16_000)
    with pytest.raises(TooLongError, match=r"long\.wav: longer than the 10 s limit"):
        decode_audio_at(str(long_wav), None, None, 16_000, max_seconds=10)
    signal, rate = decode_audio_at(str(long_wav), 5.0, 12.0, 16_000, max_seconds=10)
    assert signal.size / rate == pytest.approx(7.0, abs=0.01)


def test_a_too_long_utterance_is_failed_in_a_run(tmp_path, ray_local):
    import polars as pl

    from mer_etl.pipeline import RunConfig, run

    root = tmp_path / "RAVDESS" / "Actor_01"
    write_wav(root / "03-01-01-01-01-01-01.wav", 0.5)
    write_wav(root / "03-01-02-01-01-01-01.wav", 4.0)
    result = run(RunConfig(corpora=["ravdess"], roots=[str(tmp_path / "RAVDESS")],
                           out=str(tmp_path / "out"), extractors=["audio_stats"],
                           max_seconds=2.0))
    st = pl.read_parquet(f"{result.path}/status/audio_stats/part-000000.parquet")
    assert dict(zip(st["utt_id"], st["status"], strict=True)) == {
        "ravdess_01-01-01-01-01-01": "ok", "ravdess_01-02-01-01-01-01": "failed"}
    assert st.filter(pl.col("status") == "failed")["reason"].to_list() == ["TooLongError"]


def test_a_run_whose_workers_always_die_stops_with_one_line(tmp_path):
    for actor in range(1, 4):  # every clip kills its worker
        write_wav(tmp_path / "RAVDESS" / f"Actor_{actor:02d}" /
                  f"03-01-01-01-01-01-{actor:02d}.wav", 2.0)
    proc = _run_with_killer(tmp_path, "killer", 1)
    assert proc.returncode == 2, proc.stderr[-2000:]
    tail = proc.stderr[proc.stderr.rindex("error: "):]  # the last thing said, one message
    assert tail.startswith("error: workers die on every utterance (3 tried alone"), tail
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").glob("*/*/dataset.json"))  # no card: not complete
