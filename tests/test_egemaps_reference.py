"""Our eGeMAPS, after our decode and the Ray path, against audEERING's reference call
`opensmile.Smile(...).process_file(<original file>)` on the same files (16 kHz and 48 kHz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opensmile
import polars as pl
import pytest

from mer_etl.pipeline import RunConfig, run
from tests.media import write_speech

TEXT = "Kids are talking by the door, and the dogs are sitting by the window."
# Documented tolerance: float32 storage of float32 values, i.e. exact up to rounding.
RTOL, ATOL = 1e-6, 1e-6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("egemaps") / "RAVDESS" / "Actor_01"
    write_speech(root / "03-01-01-01-01-01-01.wav", TEXT, sample_rate=16_000)
    write_speech(root / "03-01-02-01-01-01-01.wav", TEXT, sample_rate=48_000)
    return root.parent


def reference(path: Path, level: opensmile.FeatureLevel) -> np.ndarray:
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=level)
    return smile.process_file(str(path)).to_numpy(dtype=np.float32)


def test_functionals_and_llds_match_process_file(corpus, tmp_path, ray_local):
    result = run(RunConfig(corpora=["ravdess"], roots=[str(corpus)], out=str(tmp_path)))
    feats = pl.read_parquet(Path(result.path) / "features/egemaps/*.parquet").sort("utt_id")
    names = result.card["extractors"]["egemaps"]["functionals"]
    assert len(names) == 88
    for row, wav in zip(feats.iter_rows(named=True), sorted(corpus.rglob("*.wav")), strict=True):
        ours = np.array([row[n] for n in names], dtype=np.float32)
        ref = reference(wav, opensmile.FeatureLevel.Functionals).reshape(-1)
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=str(wav))
        lld_ref = reference(wav, opensmile.FeatureLevel.LowLevelDescriptors)
        np.testing.assert_allclose(np.array(row["lld"], dtype=np.float32), lld_ref,
                                   rtol=RTOL, atol=ATOL, err_msg=str(wav))
        assert np.allclose(np.diff(row["lld_times"]), 0.01, atol=1e-5)


def test_resampling_first_is_an_option_and_it_moves_the_features(corpus):
    """Why native rate is the default: eGeMAPS on a 16 kHz resampling of 48 kHz speech."""
    from mer_etl.extractors import build
    from mer_etl.media.audio import decode_audio_at

    wav = corpus / "Actor_01" / "03-01-02-01-01-01-01.wav"
    resampled = build("egemaps", sample_rate=16_000)
    assert resampled.input_rate() == 16_000 and build("egemaps").input_rate() is None
    ours = resampled.extract(*decode_audio_at(str(wav), sample_rate=16_000))["functionals"]
    ref = reference(wav, opensmile.FeatureLevel.Functionals).reshape(-1)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-6)
    assert (rel > 0.2).sum() >= 10  # measured: 35 of 88 functionals move by more than 20%
