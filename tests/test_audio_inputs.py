"""Awkward audio through every audio extractor on Ray: each input gives sensible outputs or a
recorded status, never a crashed run; and all frame-level outputs share one timeline, which the
word-aligned view joins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mer_etl.pipeline import RunConfig, run
from tests.media import write_speech
from tests.models import save_tiny_wav2vec2

SENTENCE = "Kids are talking by the door."
CASES = {  # RAVDESS emotion code -> (what, how it is made)
    "01": ("silence", None),
    "02": ("clipped", {"effects": ("gain", "30")}),
    "03": ("0.2 s", {"effects": ("trim", "0", "0.2")}),
    # 212 x (1.83 s of speech + 1 s of silence) = 600 s
    "04": ("10 min", {"effects": ("pad", "0", "1", "repeat", "211")}),
    "05": ("8 kHz", {"sample_rate": 8_000}),
    "06": ("stereo", {"channels": 2}),
    "07": ("48 kHz", {"sample_rate": 48_000}),
}


def name(code: str) -> str:
    return f"03-01-{code}-01-01-01-01.wav"


@pytest.fixture(scope="module")
def result(tmp_path_factory, ray_local):
    tmp = tmp_path_factory.mktemp("inputs")
    actor = tmp / "RAVDESS" / "Actor_01"
    actor.mkdir(parents=True)
    for code, (_, how) in CASES.items():
        if how is None:
            subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", str(actor / name(code)),
                            "trim", "0", "2"], check=True)
        else:
            write_speech(actor / name(code), SENTENCE, **how)
    model = save_tiny_wav2vec2(tmp / "tiny-wav2vec2")
    cfg = RunConfig(corpora=["ravdess"], roots=[str(actor.parent)], out=str(tmp / "out"),
                    extractors=["egemaps", "audio_stats", "asr", "wav2vec"],
                    extractor_config={"wav2vec": {"model": str(model)}})
    return run(cfg)


def test_every_input_lands_with_a_status(result):
    out = Path(result.path)
    status = pl.read_parquet(out / "status/*/*.parquet")
    assert status.height == len(CASES) * 4
    assert status.filter(pl.col("status") == "failed").is_empty(), status.filter(
        pl.col("status") == "failed")
    durations = dict(zip(status["utt_id"], status["duration_s"], strict=False))
    assert durations["ravdess_01-04-01-01-01-01"] == pytest.approx(600, rel=0.05)
    assert durations["ravdess_01-03-01-01-01-01"] == pytest.approx(0.2, abs=0.01)

    asr = pl.read_parquet(out / "features/asr/*.parquet").sort("utt_id")
    text = dict(zip(asr["utt_id"], asr["text"], strict=True))
    assert text["ravdess_01-01-01-01-01-01"] == ""  # silence: no words, not an error
    for code in ("02", "05", "06", "07"):  # clipped, 8 kHz, stereo, 48 kHz: still speech
        # Some of the sentence's words: under full-suite load the same take has come back as
        # "Kids are talking by the door", "Kid, I talkin' by the door!" and "Kids are talking
        # by memorial." (Whisper tiny.en on distorted speech; see the closing note of issue 13)
        said = text[f"ravdess_01-{code}-01-01-01-01"].lower()
        assert sum(w in said for w in ("kid", "talk", "door")) >= 2, text
    long = asr.filter(pl.col("utt_id") == "ravdess_01-04-01-01-01-01")["words"][0]
    starts = np.array([w["start"] for w in long])
    assert len(long) > 1000 and np.all(np.diff(starts) >= 0) and starts[-1] < 630

    stats = pl.read_parquet(out / "features/audio_stats/*.parquet")
    clipped = stats.filter(pl.col("utt_id") == "ravdess_01-02-01-01-01-01")
    assert clipped["clipped_fraction"][0] > 0.01


def test_egemaps_runs_at_each_files_own_rate(result):
    """8 kHz and 48 kHz files reach openSMILE at their own rate; the 16 kHz-only encoders
    get the same files resampled, in the same run."""
    egemaps = pl.read_parquet(Path(result.path) / "features/egemaps/*.parquet")
    assert egemaps.height == len(CASES)
    w2v = pl.read_parquet(Path(result.path) / "features/wav2vec/*.parquet")
    frames = dict(zip(w2v["utt_id"], w2v["frame_times"], strict=True))
    # 20 ms frames over the whole file, whatever its rate
    assert len(frames["ravdess_01-05-01-01-01-01"]) == len(frames["ravdess_01-07-01-01-01-01"])


def test_word_view_is_the_mean_of_frames_over_each_word(result):
    out = Path(result.path)
    view = pl.read_parquet(out / "words/*.parquet")
    assert result.card["views"]["words"]["rows"] == view.height > 500
    assert {"egemaps_lld", "wav2vec_last", "wav2vec_mean"} <= set(view.columns)
    word = view.filter(pl.col("utt_id") == "ravdess_01-07-01-01-01-01").row(1, named=True)
    for ex, col, frames, times, window in (("egemaps", "egemaps_lld", "lld", "lld_times", 0.02),
                                           ("wav2vec", "wav2vec_last", "frames_last",
                                            "frame_times", 0.025)):
        feats = pl.read_parquet(out / f"features/{ex}/*.parquet").filter(
            pl.col("utt_id") == word["utt_id"])
        centre = np.array(feats[times][0]) + window / 2
        inside = (centre >= word["start"]) & (centre < word["end"])
        expected = np.array(feats[frames][0].to_list(), dtype=np.float32)[inside].mean(0)
        assert word[f"{ex}_frames"] == inside.sum() > 0
        np.testing.assert_allclose(word[col], expected, rtol=1e-5, atol=1e-6)


def test_report_shows_asr_language_and_confidence(result, tmp_path):
    from mer_etl.report import build_report

    page = build_report(result.path, tmp_path).read_text()
    assert (tmp_path / "asr.png").is_file()
    # 7 utterances in English, one (the silence) without words
    assert re.search(r"<td>ravdess</td><td>en</td><td>7</td><td>1</td>", page), page


def test_loader_yields_text_and_padded_frames(result):
    from torch.utils.data import DataLoader

    from mer_etl.loaders import MERDataset, pad_collate

    ds = MERDataset(result.path, extractors=["asr", "wav2vec"],
                    fields=["asr.text", "asr.word", "asr.word_start", "wav2vec.frames_last"])
    feats, labels = next(iter(DataLoader(ds, batch_size=7, collate_fn=pad_collate)))
    assert len(feats["asr.text"]) == 7 and all(isinstance(t, str) for t in feats["asr.text"])
    assert feats["wav2vec.frames_last"].shape[0] == 7 and "wav2vec.frames_last.mask" in feats
    assert feats["asr.word_start"].shape[0] == 7 and len(labels["utt_id"]) == 7
