"""Corpus root and output on an S3-compatible server (moto's server process on loopback)."""

from __future__ import annotations

import uuid

import fsspec
import polars as pl

from mer_etl.loaders import class_weights
from mer_etl.pipeline import RunConfig, run
from mer_etl.read import iter_samples, scan, status
from mer_etl.store import resolve_dataset, verify
from tests import corpora


def test_root_and_out_on_s3(tmp_path, s3_server, ray_local):
    fs = fsspec.filesystem("s3")
    bucket = f"mer-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    local = corpora.make_msp_podcast(tmp_path / "msp")
    fs.put(str(local), f"{bucket}/MSP", recursive=True)
    cfg = RunConfig(corpora=["msp_podcast"], roots=[f"s3://{bucket}/MSP"],
                    out=f"s3://{bucket}/out", extractors=["egemaps", "audio_stats"],
                    shard_size=2)
    result = run(cfg)
    assert result.path.startswith(f"s3://{bucket}/out/msp_podcast/")
    card = result.card
    assert card["counts"]["utterances"] == 4 and card["counts"]["errors"] == 2  # unpaired rows
    assert card["extractors"]["egemaps"]["status"] == {"ok": 4}
    assert all(u.startswith(f"s3://{bucket}/MSP/Audios/") for u in
               pl.read_parquet(fs.open(f"{bucket}/out/msp_podcast/{result.version}/"
                                       "utterances.parquet"))["audio_uri"])
    store = resolve_dataset(f"s3://{bucket}/out/msp_podcast")
    assert store.uri == result.path and verify(store) == []
    assert len(list(iter_samples(result.path))) == 4
    # the lazy readers go through fsspec too (polars' own client would miss the endpoint)
    assert scan(result.path).collect().height == 4
    assert status(result.path).height == 8  # 4 utterances x 2 extractors
    assert class_weights(result.path).sum() > 0
    assert not [p for p in fs.find(f"{bucket}/out") if ".tmp-" in p]
    again = run(cfg)
    assert again.up_to_date and again.version == result.version
