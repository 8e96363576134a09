"""Property tests: damaged label files give named errors, never a traceback, and a bad line
costs that line only."""

from __future__ import annotations

import io
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mer_etl.jobs import cremad, esd, iemocap, meld, mosei, msp_podcast
from mer_etl.jobs.base import LabelFileError
from mer_etl.schemas.labels import load_label_schema
from tests import corpora

LABELS = load_label_schema()
IEMOCAP_VOTES = set(LABELS.corpus("iemocap")["votes"])

# name -> (valid text, parser taking (text, path, bad)); each returns what it parsed
VALID: dict[str, tuple[str, object]] = {
    "iemocap_eval": (corpora.IEMOCAP_EVAL_1,
                     lambda t, p, b: iemocap.parse_evaluation(t, p, IEMOCAP_VOTES, b)),
    "iemocap_transcription": ("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n",
                              lambda t, p, b: iemocap.parse_transcription(t)),
    "meld_csv": (corpora.MELD_HEADER + '5,My duties?,Chandler,surprise,positive,0,4,8,21,'
                 '"00:16:34,452","00:16:40,917"\n', meld.parse_csv),
    "msp_consensus": ("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
                      "MSP-PODCAST_0001_0008.wav,N,2.2,4.0,2.6,30,Male,Test1\n",
                      msp_podcast.parse_consensus),
    "msp_detailed": ("FileName,EmoDetail\nMSP-PODCAST_0001_0008.wav,"
                     "WORKER00001; Angry; Angry,Frustrated; A:4.0; V:2.0; D:5.0;\n",
                     msp_podcast.parse_detailed),
    "cremad_votes": ('"","A","D","F","H","N","S","fileName"\n'
                     '"100009",5,5,0,0,1,1,"1001_IEO_ANG_MD"\n',
                     lambda t, p, b: cremad.parse_votes(t, p, LABELS, b)),
    "cremad_demographics": ("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,No\n",
                            cremad.parse_demographics),
    "esd_transcript": ("0011_000001\tThe nine the eggs, I keep.\tNeutral\n",
                       esd.parse_transcript),
    "mosei_transcript": ("vid___0___0.5___2.0___hello there\n", mosei.parse_transcript),
    "mosei_folds": ("standard_train_fold=['a', 'b']\nstandard_test_fold=['c']\n",
                    lambda t, p, b: mosei.parse_folds(t, p)),
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
    bad: list = []
    assert parse(text, f"{name}.txt", bad)
    assert bad == []


@pytest.mark.parametrize("name", sorted(VALID))
@settings(max_examples=int(os.environ.get("PARSER_EXAMPLES", 300)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_files_give_a_named_error(name, data):
    text, parse = VALID[name]
    damaged_text = data.draw(damaged(text))
    bad: list = []
    try:
        parse(damaged_text, f"/corpus/{name}.txt", bad)
    except LabelFileError as exc:  # only a file no row of which can be read
        bad.append(exc)
    for exc in bad:
        assert isinstance(exc, LabelFileError)
        assert str(exc).startswith(f"/corpus/{name}.txt:")
        assert ": expected " in str(exc) and ", got " in str(exc)


# name -> (a valid file of three records, parser, how to count what it parsed)
THREE = {
    "meld_csv": (corpora.MELD_HEADER + "".join(
        f'{i},Hi.,Joey,joy,positive,0,{i},1,1,"00:00:0{i},000","00:00:0{i},500"\n'
        for i in range(3)), meld.parse_csv),
    "msp_consensus": ("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n" + "".join(
        f"MSP-PODCAST_0001_000{i}.wav,N,2.2,4.0,2.6,30,Male,Test1\n" for i in range(3)),
        msp_podcast.parse_consensus),
    "esd_transcript": ("".join(f"0011_00000{i}\tText {i}.\tNeutral\n" for i in range(1, 4)),
                       esd.parse_transcript),
    "iemocap_eval": ("".join(f"[{i}.0 - {i}.5]\tSes01F_impro01_F00{i}\tneu\t[2.5, 2.5, 2.5]\n"
                             "C-E1:\tNeutral;\t()\n\n" for i in range(3)),
                     lambda t, p, b: iemocap.parse_evaluation(t, p, IEMOCAP_VOTES, b)),
    "mosei_transcript": ("".join(f"vid___{i}___{i}.0___{i}.5___words\n" for i in range(3)),
                         mosei.parse_transcript),
    "cremad_votes": ('"","A","D","F","H","N","S","fileName"\n' + "".join(
        f'"10000{i}",5,5,0,0,1,1,"1001_IEO_ANG_M{i}"\n' for i in range(3)),
        lambda t, p, b: cremad.parse_votes(t, p, LABELS, b)),
}


@pytest.mark.parametrize("name", sorted(THREE))
@pytest.mark.parametrize("junk", ["garbage line", "Ses01F,1,2", "x\ty\tz", "[1.0 - x]\tbad"])
def test_one_bad_line_costs_one_row(name, junk):
    """A malformed line in the middle: two records survive, one named problem, no raise."""
    text, parse = THREE[name]
    lines = text.splitlines(keepends=True)
    header = 1 if name in ("meld_csv", "msp_consensus", "cremad_votes") else 0
    cut = header + (len(lines) - header) // 3  # start of the second record
    step = (len(lines) - header) // 3
    drop = step if name == "iemocap_eval" else 1  # a turn is a block of lines
    damaged_text = "".join([*lines[:cut], junk + "\n", *lines[cut + drop:]])
    bad: list = []
    parsed = parse(damaged_text, "/c/f.txt", bad)
    assert len(parsed) == 2, parsed
    assert len(bad) == 1 and str(bad[0]).startswith("/c/f.txt:")


def test_duplicates_keep_the_first_row_and_name_the_line():
    text = corpora.MELD_HEADER + "".join(
        f'{i},Line {i}.,Joey,joy,positive,0,0,1,1,"00:00:01,000","00:00:01,500"\n'
        for i in range(2))
    bad: list = []
    (row,) = meld.parse_csv(text, "/c/train_sent_emo.csv", bad)
    assert row["text"] == "Line 0." and row["line"] == 2
    assert bad[0].error_type == "DuplicateRow"
    assert str(bad[0]).startswith("/c/train_sent_emo.csv:3: expected one row per key (first "
                                  "at line 2 is kept)")


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
    """Adapters turn every bad line into a recorded problem and keep every other row."""
    root = corpora.make_meld(tmp_path / "meld")
    dev = Path(root / "dev_sent_emo.csv")
    dev.write_text(dev.read_text() + "1,broken\n")
    from mer_etl import jobs

    m = jobs.build_manifest("meld", str(root))
    assert m.table.num_rows == 5  # the dev row before the broken line still lands
    (p,) = [p for p in m.problems.to_pylist() if p["error_type"] == "MalformedLine"]
    assert p["path"].endswith("dev_sent_emo.csv:3")
    assert p["message"].endswith("dev_sent_emo.csv:3: expected 11 fields, got "
                                 "'2 fields: 1,broken'")
