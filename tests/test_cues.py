"""The cues view: prosody binned against each speaker's own baseline, in prompt text."""

from __future__ import annotations

from pathlib import Path

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
                    adapters={"voices": custom.make_adapter(spec)})
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
    assert text.startswith('Transcript: "". Voice, relative to this speaker: pitch high, ')
    assert text.endswith("Face: not measured.")


def test_the_card_records_the_template_and_thresholds(two_speakers):
    view = two_speakers.card["views"]["cues"]
    assert view["table"] == "cues.parquet" and view["rows"] == 14
    assert (view["z_low"], view["z_high"], view["min_baseline"]) == (-1.0, 1.0, 4)
    assert "{voice}" in view["template"] and view["sources"] == {"egemaps": []}


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
