"""End to end on the generated demo corpus: layout, readers, card, version, rerun."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as pads
import pytest
import webdataset as wds

from mer_etl.pipeline import plan, run
from mer_etl.read import iter_samples, scan, shard_urls
from mer_etl.store import Store, resolve_dataset, verify


def version_dir(result) -> Path:
    return Path(result.path)


def test_output_layout_and_card(demo_run):
    _cfg, result = demo_run
    root = version_dir(result)
    assert not result.up_to_date
    assert root.parent.name == "demo" and root.name == result.version
    card = json.loads((root / "dataset.json").read_text())
    assert card["version"] == result.version
    assert card["counts"]["utterances"] == 24
    assert card["counts"]["shards"] == 3
    assert card["counts"]["errors"] == 0
    assert card["counts"]["by_split"] == {"test": 8, "train": 8, "validation": 8}
    assert set(card["counts"]["by_label"]) == {"neutral", "calm", "happy", "sad", "angry",
                                                "fearful", "disgusted", "surprised"}
    assert card["label_schema"]["version"] == "1.1.0"
    assert card["corpora"]["ravdess"]["utterances"] == 24
    ex = card["extractors"]["egemaps"]
    assert ex["version"] == "3" and ex["config"] == {"feature_set": "eGeMAPSv02", "lld": True,
                                                     "sample_rate": "native"}
    assert len(ex["functionals"]) == 88 and len(ex["lld"]) == 25
    assert any(name.endswith(".conf") for name in ex["models"])
    expected = {"utterances.parquet", "errors.parquet", "cues.parquet",
                *(f"features/egemaps/part-{i:06d}.parquet" for i in range(3)),
                *(f"status/egemaps/part-{i:06d}.parquet" for i in range(3)),
                *(f"shards/egemaps/shard-{i:06d}.tar" for i in range(3)),
                *(f"shards/shard-{i:06d}.tar" for i in range(3))}
    assert set(card["files"]) == expected
    assert ex["status"] == {"ok": 24}
    assert verify(Store(str(root))) == []


def test_polars_and_pyarrow_read_the_tables(demo_run):
    root = version_dir(demo_run[1])
    utts = pl.scan_parquet(root / "utterances.parquet").collect()
    assert utts.height == 24 and utts["utt_id"].is_unique().all()
    feats = pl.scan_parquet(root / "features/egemaps/*.parquet").collect()
    assert sorted(feats["utt_id"]) == sorted(utts["utt_id"])
    assert feats.width == 1 + 88 + 2
    assert pads.dataset(root / "features/egemaps", format="parquet").count_rows() == 24
    assert pads.dataset(root / "errors.parquet").count_rows() == 0


def test_webdataset_reads_every_shard_group(demo_run):
    root = version_dir(demo_run[1])
    labels = dict(pl.read_parquet(root / "utterances.parquet").select("utt_id", "label").rows())
    base = [str(u) for u in sorted((root / "shards").glob("*.tar"))]
    samples = list(wds.WebDataset(base, shardshuffle=False).decode())
    assert [s["__key__"] for s in samples] == sorted(labels)  # sorted by utt_id, shard by shard
    assert all(s["json"]["label"] == labels[s["__key__"]] for s in samples)
    feats = [str(u) for u in sorted((root / "shards" / "egemaps").glob("*.tar"))]
    arrays = list(wds.WebDataset(feats, shardshuffle=False).decode())
    assert [s["__key__"] for s in arrays] == sorted(labels)  # same keys, same order
    for s in arrays:
        assert s["egemaps.status.json"]["status"] == "ok"
        assert s["egemaps.functionals.npy"].shape == (88,)
        lld, times = s["egemaps.lld.npy"], s["egemaps.lld_times.npy"]
        assert lld.shape[1] == 25 and lld.shape[0] == times.shape[0] > 50
        assert np.allclose(np.diff(times), 0.01, atol=1e-4)
        assert times[-1] <= s["egemaps.status.json"]["duration_s"]


def test_iter_samples_joins_the_groups(demo_run):
    samples = list(iter_samples(demo_run[1].path))
    assert len(samples) == 24
    s = samples[0]
    assert s["json"]["utt_id"] == s["__key__"]
    assert s["egemaps.functionals.npy"].shape == (88,)


def test_read_back_helpers_push_filters_down(demo_run):
    path = demo_run[1].path
    test = scan(path).filter(pl.col("split") == "test").collect()
    assert test.height == 8
    assert test["egemaps.loudness_sma3_amean"].null_count() == 0
    assert len(shard_urls(path)) == 3
    with pytest.raises(KeyError, match="no extractor 'wav2vec'"):
        scan(path, ["wav2vec"])


def test_louder_emotions_are_louder(demo_run):
    # The demo speaks angry at amplitude 180 and sad at 80: the features must see it.
    df = (scan(demo_run[1].path).group_by("label")
          .agg(pl.col("egemaps.loudness_sma3_amean").mean()).collect())
    loud = dict(df.rows())
    assert loud["angry"] > 1.3 * loud["sad"]


def test_rerun_writes_nothing_and_says_so(demo_run):
    cfg, first = demo_run
    root = version_dir(first)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    again = run(cfg)
    assert again.up_to_date and again.version == first.version
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_same_inputs_give_the_same_version_and_bytes(demo_run, tmp_path):
    cfg, first = demo_run
    second = run(dataclasses.replace(cfg, out=str(tmp_path)))
    assert second.version == first.version
    files = lambda r: {k: v["sha256"] for k, v in r.card["files"].items()}  # noqa: E731
    assert files(second) == files(first)


def test_version_is_sensitive_to_every_input(demo_run, demo_corpus, tmp_path):
    cfg, first = demo_run
    assert plan(cfg).version == first.version
    assert plan(dataclasses.replace(cfg, shard_size=4)).version != first.version
    no_lld = dataclasses.replace(cfg, extractor_config={"egemaps": {"lld": False}})
    assert plan(no_lld).version != first.version
    assert plan(dataclasses.replace(cfg, extractors=[])).version != first.version
    # Same file names, one file's bytes differ: the media hash changes the version.
    copy = tmp_path / "RAVDESS"
    shutil.copytree(demo_corpus, copy)
    moved = plan(dataclasses.replace(cfg, roots=[str(copy)])).version
    wav = sorted(copy.rglob("*.wav"))[0]
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    assert plan(dataclasses.replace(cfg, roots=[str(copy)])).version != moved


def test_verify_catches_a_flipped_byte(demo_run, tmp_path):
    copy = tmp_path / "v"
    shutil.copytree(version_dir(demo_run[1]), copy)
    assert verify(resolve_dataset(str(copy))) == []
    tar = copy / "shards" / "shard-000001.tar"
    data = bytearray(tar.read_bytes())
    data[1000] ^= 0x01
    tar.write_bytes(bytes(data))
    (problem,) = verify(resolve_dataset(str(copy)))
    assert problem.startswith("changed: shards/shard-000001.tar")
    (copy / "features" / "egemaps" / "part-000000.parquet").unlink()
    (copy / "stray.txt").write_text("x")
    problems = verify(resolve_dataset(str(copy)))
    assert "missing: features/egemaps/part-000000.parquet" in problems
    assert "not in the card: stray.txt" in problems
