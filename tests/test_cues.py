"""The cues view: prosody binned against each speaker's own baseline, in prompt text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from mer_etl.jobs import custom
from mer_etl.pipeline import RunConfig, run
from tests.media import write_speech

TEXTS = ["The train leaves at nine.", "Please close the window.", "We walked along the river.",
         "My sister bakes bread on Sundays.", "The meeting starts soon.",
         "Turn left at the next corner.", "Rain is expected tomorrow."]
VOICES = {"s1": "en-us+m3", "s2": "en-us+f3"}  # a low and a high voice


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory, ray_local):
    """Each speaker says seven sentences in their own voice, the last one raised by six
    semitones (sox `pitch`): high for that speaker, while the high voice's ordinary sentences
    are above the low voice's raised one."""
    root = tmp_path_factory.mktemp("voices")
    for speaker, voice in VOICES.items():
        for i, text in enumerate(TEXTS):
            raised = i == len(TEXTS) - 1
            write_speech(root / speaker / f"{speaker}_{i}.wav", text, voice=voice,
                         effects=("pitch", "600") if raised else ())
    spec = custom.load_job(None, corpus="voices", language="en",
                           pattern=r"(?P<speaker>s\d)/s\d_(?P<n>\d)\.wav$",
                           lookups={"gender": {"from": "speaker",
                                               "values": {"s1": "male", "s2": "female"}}})
    cfg = RunConfig(corpora=["voices"], roots=[str(root)], out=str(root / "out"),
                    extractors=["egemaps", "asr"], adapters={"voices": custom.make_adapter(spec)})
    return run(cfg)


def test_pitch_is_binned_against_the_speakers_own_baseline(two_speakers):
    cues = pl.read_parquet(Path(two_speakers.path) / "cues.parquet").sort("utt_id")
    assert cues.height == 14
    raised = cues.filter(pl.col("utt_id").str.ends_with("_6"))
    ordinary = cues.filter(~pl.col("utt_id").str.ends_with("_6"))
    assert raised["pitch_bin"].to_list() == ["high", "high"]
    assert set(ordinary["pitch_bin"]) <= {"normal", "low"}
    assert set(cues["pitch_baseline"]) == {"speaker"}
    # the high voice's ordinary sentences are above the low voice's raised one: a corpus-wide
    # baseline would call them high; the speaker's own does not
    low_raised = raised.filter(pl.col("speaker") == "voices_s1")["pitch"][0]
    high_ordinary = ordinary.filter(pl.col("speaker") == "voices_s2")["pitch"]
    assert high_ordinary.min() > low_raised
    text = raised.filter(pl.col("speaker") == "voices_s2")["prompt_text"][0]
    transcript = raised.filter(pl.col("speaker") == "voices_s2")["asr_text"][0].strip()
    assert text.startswith(f'Transcript: "{transcript}". Voice, relative to this speaker: '
                           "pitch high, ")
    assert "Face: not measured. Words that stand out: " in text and "(pitch high" in text


def test_words_that_stand_out_against_the_speakers_own_words(two_speakers):
    """Each ASR word's pitch (over its voiced frames) against the median and MAD of the
    speaker's words: the raised sentence's words are high, the ordinary ones rarely."""
    words = pl.read_parquet(Path(two_speakers.path) / "cues_words.parquet")
    asr = pl.read_parquet(Path(two_speakers.path) / "features/asr/*.parquet")
    assert words.height == sum(len(w) for w in asr["words"]) > 40
    assert set(words["pitch_baseline"].drop_nulls()) == {"speaker"}  # null: no voiced frame
    raised = words.filter(pl.col("utt_id").str.ends_with("_6"))
    ordinary = words.filter(~pl.col("utt_id").str.ends_with("_6"))
    high = [(df["pitch_bin"] == "high").mean() for df in (raised, ordinary)]
    assert high[0] >= 0.75 and high[1] <= 0.2, high
    card = two_speakers.card["views"]["cues"]
    assert (card["words_table"], card["word_rows"]) == ("cues_words.parquet", words.height)
    cues = pl.read_parquet(Path(two_speakers.path) / "cues.parquet")
    marked = json.loads(cues.filter(pl.col("utt_id") == raised["utt_id"][0])["cues_json"][0])
    assert [w["voice"].get("pitch") for w in marked["words"]].count("high") >= 3


def test_word_rows_average_voiced_pitch_and_frames_with_the_face():
    from mer_etl.cue_words import word_rows

    names = ["Loudness_sma3", "F0semitoneFrom27.5Hz_sma3nz"]
    # 10 ms frames: F0 is 0 (unvoiced) on every other frame of the first word
    f0 = [0.0 if i % 2 else 30.0 for i in range(50)] + [20.0] * 50
    lld = {"u": {"lld": [[1.0, f] for f in f0], "lld_times": [i / 100 for i in range(100)]}}
    nan = [float("nan")] * 2
    faces = {"u": {"frame_times": [0.1, 0.3, 0.6, 0.8],
                   "au_proxy": [[0.2, 0.9], nan, [0.4, 0.7], [0.6, 0.5]]}}
    words = {"u": [{"word": "a", "start": 0.0, "end": 0.5}, {"word": "b", "start": 0.5,
                                                             "end": 1.0},
                   {"word": "c", "start": None, "end": None}]}
    a, b, c = word_rows(words, lld, names, faces, 0.02)
    assert a["pitch"] == pytest.approx(30.0) and b["pitch"] == pytest.approx(20.0)
    assert a["au_proxy"] == pytest.approx([0.2, 0.9])  # the frame without the face left out
    assert b["au_proxy"] == pytest.approx([0.5, 0.6])
    assert (c["pitch"], c["loudness"], c["au_proxy"]) == (None, None, None)


def test_the_card_records_the_template_and_thresholds(two_speakers):
    view = two_speakers.card["views"]["cues"]
    assert view["table"] == "cues.parquet" and view["rows"] == 14
    assert (view["z_low"], view["z_high"], view["min_baseline"]) == (-1.0, 1.0, 4)
    assert "{voice}" in view["template"] and view["sources"] == {"egemaps": [], "asr": []}


def test_baseline_falls_back_to_gender_then_corpus():
    from mer_etl.cues import baseline_z

    rows = ([("c", "a", "f", v) for v in (1.0, 2.0, 3.0, 4.0, 5.0)]  # a: own baseline
            + [("c", "b", "f", 10.0)]  # b: one value, the women of c
            + [("c", "x", None, 3.0)])  # no gender: the corpus
    df = pl.DataFrame(rows, schema=["corpus", "speaker", "gender", "pitch"], orient="row")
    out = baseline_z(df, "pitch")
    assert out["pitch_baseline"].to_list() == ["speaker"] * 5 + ["gender", "corpus"]
    assert out["pitch_bin"].to_list()[:5] == ["low", "normal", "normal", "normal", "high"]
    assert out["pitch_bin"][5] == "high"  # 10 among the women (1..5, 10)


def test_word_cues_and_the_word_view_carry_the_faces_au_proxies(tmp_path, ray_local):
    """A real face (the group photo's largest) saying a sentence: each word's AU proxies are
    the mean over the sampled frames in its span, in the word view and in the word cues."""
    from mer_etl.demo import face_photos
    from tests.media import write_video

    speech = write_speech(tmp_path / "s.wav", "Tell me more about the garden.")
    actor = tmp_path / "RAVDESS" / "Actor_01"
    write_video(actor / "01-01-01-01-01-01-01.mp4", face_photos()[1], seconds=3.0,
                width=640, audio=speech)
    result = run(RunConfig(corpora=["ravdess"], roots=[str(actor.parent)],
                           out=str(tmp_path / "out"), extractors=["asr", "faces"],
                           extractor_config={"faces": {"expressions": True}}, reconcile=False))
    out = Path(result.path)
    face = pl.read_parquet(out / "features/faces/*.parquet").row(0, named=True)
    words = pl.read_parquet(out / "cues_words.parquet").sort("word_index")
    view = pl.read_parquet(out / "words/*.parquet").sort("word_index")
    assert words.height == view.height >= 4
    times, au = np.asarray(face["frame_times"]), np.asarray(face["au_proxy"], np.float32)
    for w, v in zip(words.iter_rows(named=True), view.iter_rows(named=True), strict=True):
        inside = (times >= w["start"]) & (times < w["end"])
        expect = au[inside].mean(0) if inside.any() else \
            au[np.argmin(np.abs(times - (w["start"] + w["end"]) / 2))]
        assert w["au_proxy"] == pytest.approx(expect.tolist(), abs=1e-5)
        assert v["faces_au_proxy"] == pytest.approx(w["au_proxy"], abs=1e-5)
        units = [f"AU{n}" for n in ("01", "02", "04", "05", "06", "07", "09", "10", "12",
                                    "14", "15", "17", "20", "23", "26", "28", "43")]
        assert w["face"] == [u for u, x in zip(units, expect, strict=True) if x >= 0.5]
    assert any(words["face"].to_list()), "the laughing face has active units in some word"
    text = pl.read_parquet(out / "cues.parquet")["prompt_text"][0]
    assert "Words that stand out: " in text and "smiling" in text


def test_predicted_dimensions_are_binned_on_their_scale(tmp_path):
    """An extractor that predicts V/A/D declares its columns and scale (Extractor.dimensions):
    the cues view says low / neutral / high by thirds of the scale, in the prompt and JSON."""
    import pyarrow as pa

    from mer_etl import cues
    from mer_etl.extractors.base import Dimension
    from mer_etl.store import Store

    class Vad:
        name = "vad"
        dimensions: ClassVar[dict[str, Dimension]] = {
            "valence": Dimension("val", -1.0, 1.0), "arousal": Dimension("aro", 1.0, 5.0)}

    store = Store(str(tmp_path / "ds"))
    store.write_table("features/vad/part-000000.parquet", pa.table({
        "utt_id": ["a", "b", "c"], "val": [-0.9, 0.1, 0.5], "aro": [4.9, 3.0, None]}))
    manifest = pa.table({"utt_id": ["a", "b", "c"], "corpus": ["x"] * 3,
                         "speaker": ["s"] * 3, "gender": [None] * 3,
                         "transcript": ["hi", "so", "ok"]})
    assert cues.sources([Vad()]) == ["vad"]
    table, words = cues.build(store, manifest, [Vad()], 1)
    rows = {r["utt_id"]: r for r in table.iter_rows(named=True)}
    assert words is None
    assert (rows["a"]["pred_valence_bin"], rows["a"]["pred_arousal_bin"]) == ("low", "high")
    assert (rows["b"]["pred_valence_bin"], rows["b"]["pred_arousal_bin"]) == ("neutral",
                                                                              "neutral")
    assert (rows["c"]["pred_valence_bin"], rows["c"]["pred_arousal_bin"]) == ("high", None)
    assert rows["a"]["prompt_text"].endswith("Predicted: valence low, arousal high.")
    assert json.loads(rows["c"]["cues_json"])["predicted"] == {"valence": "high"}
