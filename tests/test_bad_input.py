"""One bad media file never kills a run: it is recorded and everything else lands."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import webdataset as wds

from mer_etl.pipeline import RunConfig, run
from tests.media import truncate, write_wav


def test_bad_media_is_recorded_and_the_rest_lands(tmp_path, ray_local):
    root = tmp_path / "RAVDESS"
    for emo in ("03", "04", "05"):
        write_wav(root / "Actor_01" / f"03-01-{emo}-01-01-01-01.wav", seconds=1.0)
    (root / "Actor_01" / "03-01-06-01-01-01-01.wav").write_bytes(b"")  # empty
    truncate(write_wav(root / "Actor_01" / "03-01-07-01-01-01-01.wav", seconds=1.0))
    (root / "Actor_01" / "README.txt").write_text("foreign file")
    cfg = RunConfig(corpora=["ravdess"], roots=[str(root)], out=str(tmp_path / "out"))
    result = run(cfg)
    out = Path(result.path)

    errors = pl.read_parquet(out / "errors.parquet").sort("stage", "path")
    assert errors["stage"].to_list() == ["decode", "decode", "manifest"]
    empty, cut, foreign = errors.rows(named=True)
    assert empty["utt_id"] == "ravdess_01-06-01-01-01-01"
    assert empty["path"].endswith("03-01-06-01-01-01-01.wav")
    assert "03-01-06-01-01-01-01.wav: ffmpeg could not decode audio" in empty["message"]
    assert cut["utt_id"] == "ravdess_01-07-01-01-01-01" and "corrupt" in cut["message"]
    assert foreign["utt_id"] is None and foreign["path"].endswith("README.txt")
    assert "expected a file named MM-VV-EE-II-SS-RR-AA" in foreign["message"]

    feats = pl.read_parquet(out / "features/egemaps/part-000000.parquet")
    assert sorted(feats["utt_id"]) == [f"ravdess_01-{e}-01-01-01-01" for e in ("03", "04", "05")]
    status = {s["__key__"]: json.loads(s["egemaps.status.json"]) for s in
              wds.WebDataset(str(out / "shards/egemaps/shard-000000.tar"), shardshuffle=False)}
    assert len(status) == 5  # one sample per utterance, failed ones say so
    assert status["ravdess_01-06-01-01-01-01"]["status"] == "failed"
    assert status["ravdess_01-06-01-01-01-01"]["stage"] == "decode"
    assert status["ravdess_01-03-01-01-01-01"]["status"] == "ok"
    assert result.card["counts"]["errors_by_stage"] == {"decode": 2, "manifest": 1}
    assert result.card["extractors"]["egemaps"]["status"] == {"failed": 2, "ok": 3}
