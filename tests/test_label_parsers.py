"""Property tests: damaged label files always give a named LabelFileError, never a traceback."""

from __future__ import annotations

import io
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import cremad, esd, iemocap, meld, mosei, msp_podcast
from jobs.base import LabelFileError
from schemas.labels import load_label_schema
from tests import corpora

LABELS = load_label_schema()
IEMOCAP_VOTES = set(LABELS.corpus("iemocap")["votes"])

# name -> (valid text, parser taking (text, path))
VALID: dict[str, tuple[str, object]] = {
    "iemocap_eval": (corpora.IEMOCAP_EVAL_1,
                     lambda t, p: iemocap.parse_evaluation(t, p, IEMOCAP_VOTES)),
    "iemocap_transcription": ("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n",
                              lambda t, p: iemocap.parse_transcription(t)),
    "meld_csv": (corpora.MELD_HEADER + '5,My duties?,Chandler,surprise,positive,0,4,8,21,'
                 '"00:16:34,452","00:16:40,917"\n', meld.parse_csv),
    "msp_consensus": ("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                      "MSP-PODCAST_0001_0008.wav,N,2.2,4.0,2.6,30,Male,Test1\n",
                      msp_podcast.parse_consensus),
    "cremad_votes": ('"","A","D","F","H","N","S","fileName"\n'
                     '"100009",5,5,0,0,1,1,"1001_IEO_ANG_MD"\n',
                     lambda t, p: cremad.parse_votes(t, p, LABELS)),
    "cremad_demographics": ("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,No\n",
                            cremad.parse_demographics),
    "esd_transcript": ("0011_000001\tThe nine the eggs, I keep.\tNeutral\n",
                       esd.parse_transcript),
    "mosei_transcript": ("vid___0___0.5___2.0___hello there\n", mosei.parse_transcript),
    "mosei_folds": ("standard_train_fold=['a', 'b']\nstandard_test_fold=['c']\n",
                    mosei.parse_folds),
}


@st.composite
def damaged(draw, text: str) -> str:
    """A valid file with one kind of damage: cut, deleted span, inserted junk, replaced line."""
    kind = draw(st.sampled_from(["truncate", "delete", "insert", "replace_line"]))
    n = len(text)
    if kind == "truncate":
        return text[: draw(st.integers(0, n))]
    if kind == "delete":
        i = draw(st.integers(0, n))
        return text[:i] + text[i + draw(st.integers(1, 20)):]
    junk = draw(st.text(min_size=1, max_size=30))
    if kind == "insert":
        i = draw(st.integers(0, n))
        return text[:i] + junk + text[i:]
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = junk + "\n"
    return "".join(lines)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_files_parse(name):
    text, parse = VALID[name]
    assert parse(text, f"{name}.txt")


@pytest.mark.parametrize("name", sorted(VALID))
@settings(max_examples=int(os.environ.get("PARSER_EXAMPLES", 300)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_files_give_a_named_error(name, data):
    text, parse = VALID[name]
    bad = data.draw(damaged(text))
    try:
        parse(bad, f"/corpus/{name}.txt")
    except LabelFileError as exc:
        assert str(exc).startswith(f"/corpus/{name}.txt:")
        assert ": expected " in str(exc) and ", got " in str(exc)


def _csd_bytes() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        g = h5.create_group("All Labels").create_group("data").create_group("vid")
        g.create_dataset("intervals", data=np.array([[0.0, 1.0], [1.0, 2.0]]))
        g.create_dataset("features", data=np.zeros((2, 7), np.float32))
    return buf.getvalue()


CSD = _csd_bytes()


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(CSD) - 1))
def test_truncated_csd_gives_a_named_error(cut):
    try:
        mosei.parse_labels(io.BytesIO(CSD[:cut]), "/corpus/CMU_MOSEI_Labels.csd")
    except LabelFileError as exc:
        assert str(exc).startswith("/corpus/CMU_MOSEI_Labels.csd:")


def test_csd_with_wrong_shapes_names_the_entry(tmp_path):
    path = tmp_path / "CMU_MOSEI_Labels.csd"
    with h5py.File(path, "w") as h5:
        g = h5.create_group("All Labels").create_group("data").create_group("vid")
        g.create_dataset("intervals", data=np.zeros((2, 2)))
        g.create_dataset("features", data=np.zeros((2, 6)))
    with pytest.raises(LabelFileError, match=r"csd:data/vid: expected features n x 7"):
        mosei.parse_labels(str(path), str(path))


def test_damaged_label_files_never_stop_a_scan(tmp_path):
    """Adapters turn every parser error into a recorded problem and keep the rest."""
    root = corpora.make_meld(tmp_path / "meld")
    Path(root / "dev_sent_emo.csv").write_text(corpora.MELD_HEADER + "1,broken\n")
    import jobs

    m = jobs.build_manifest("meld", str(root))
    assert m.table.num_rows == 4
    (msg,) = [p["message"] for p in m.problems.to_pylist() if p["error_type"] == "LabelFileError"]
    assert msg.endswith("dev_sent_emo.csv:2: expected 11 fields, got '2 fields: 1,broken'")
