"""Adding a frame-level extractor touches only its own module (tests/zcr.py): registered
through MER_ETL_EXTRACTORS, it lands in its shards, joins the word-aligned view through its
declared frame series and appears in the report through its declared items."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

from tests.media import write_speech

REPO = Path(__file__).resolve().parents[1]
MER_ETL = str(Path(sys.executable).parent / "mer-etl")


def test_own_frame_extractor_joins_words_view_and_report(tmp_path):
    actor = tmp_path / "RAVDESS" / "Actor_01"
    write_speech(actor / "03-01-01-01-01-01-01.wav", "Kids are talking by the door.")
    write_speech(actor / "03-01-05-01-02-01-01.wav", "Dogs are sitting by the door.")
    env = {**os.environ, "MER_ETL_EXTRACTORS": "tests.zcr", "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([MER_ETL, "run", "ravdess", "--root", str(tmp_path / "RAVDESS"),
                          "--out", str(tmp_path / "out"), "--extractors", "asr,zcr",
                          "--num-cpus", "2"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    version = next((tmp_path / "out" / "ravdess").iterdir())

    run_stats = json.loads((version / "dataset.json").read_text())["run"]
    # built by the writer right after the shard's units, not by the driver after the run
    assert run_stats["words_parts_on_workers"] == run_stats["words_parts_built"] == 1
    words = pl.read_parquet(version / "words" / "*.parquet")
    assert {"word", "zcr", "zcr_frames"} <= set(words.columns) and words.height >= 8
    feats = pl.read_parquet(version / "features" / "zcr" / "*.parquet")
    for word in words.filter(pl.col("zcr_frames") > 0).head(3).iter_rows(named=True):
        mine = feats.filter(pl.col("utt_id") == word["utt_id"]).row(0, named=True)
        centre = np.array(mine["frame_times"]) + 400 / 16_000 / 2
        inside = (centre >= word["start"]) & (centre < word["end"])
        expected = np.array(mine["frames"], np.float32)[inside].mean(0)
        assert word["zcr_frames"] == inside.sum()
        np.testing.assert_allclose(word["zcr"], expected, rtol=1e-5)

    report = subprocess.run([MER_ETL, "report", str(version), "--out", str(tmp_path / "rep")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Zero-crossing rate</h2><img alt='zcr'" in page
    assert "<h2>Zero-crossing rate per corpus</h2>" in page
    assert "<td>ravdess</td><td>2</td>" in page
    assert (tmp_path / "rep" / "zcr.png").stat().st_size > 1000


def test_the_device_kind_is_in_the_fingerprint_where_outputs_can_differ():
    """A GPU run of an extractor whose outputs can differ on GPU is another version; a CPU run
    keeps its fingerprint, and an extractor that ignores the device is the same on either."""
    from mer_etl.extractors import build

    cpu, gpu, gpu1 = (build("faces", backend="dlib", device=d) for d in ("cpu", "cuda",
                                                                         "cuda:1"))
    assert "device" not in cpu.fingerprint()
    assert gpu.fingerprint()["device"] == gpu1.fingerprint()["device"] == "cuda"
    assert build("egemaps", device="cuda").fingerprint() == build("egemaps").fingerprint()
