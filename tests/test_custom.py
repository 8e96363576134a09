"""Bring your own corpus: a table or a file-name pattern plus a label map."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from mer_etl import jobs
from mer_etl.jobs import custom
from mer_etl.jobs.base import CorpusError
from mer_etl.pipeline import RunConfig, run
from tests import corpora
from tests.media import write_wav

EXAMPLES = Path(__file__).parent.parent / "jobs" / "examples"
DEFINITIONS = Path(__file__).parent.parent / "jobs" / "corpora"


def write_table_corpus(root: Path) -> Path:
    for name in ("a.wav", "b.wav", "c.wav", "long.wav"):
        write_wav(root / "audio" / name, 3.0 if name == "long.wav" else 0.8, 16_000)
    (root / "my_corpus.csv").write_text(
        "file,id,speaker,split,start,end,text,emotion,val,act\n"
        "audio/a.wav,u1,s1,train,,,hello,ang,2,6\n"
        "audio/b.wav,u2,s2,test,,,hi,xxx,4,4\n"
        "audio/long.wav,u3,s1,train,1.0,2.5,a span,hap,7,1\n"
        "audio/missing.wav,u4,s2,train,,,gone,neu,4,4\n"
        "audio/c.wav,u5,s2,train,,,what,joy,4,4\n"
        "audio/c.wav,u6,s2,train,soon,,bad start,neu,4,4\n"
    )
    return root


def test_table_job_maps_labels_and_reports_problems(tmp_path):
    write_table_corpus(tmp_path / "mine")
    job = tmp_path / "mine" / "job.yaml"
    job.write_text((EXAMPLES / "table.yaml").read_text())
    spec = custom.load_job(str(job))
    m = jobs.build_manifest(custom.make_adapter(spec), custom.default_root(spec))
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    assert sorted(rows) == ["my_corpus_u1", "my_corpus_u2", "my_corpus_u3"]
    u1 = rows["my_corpus_u1"]
    assert (u1["label"], u1["label_native"], u1["speaker"], u1["split"]) == (
        "angry", "ang", "my_corpus_s1", "train")
    assert (u1["valence"], u1["arousal"], u1["valence_native"]) == pytest.approx(
        (-2 / 3, 2 / 3, 2.0))
    assert (rows["my_corpus_u2"]["label"], rows["my_corpus_u2"]["label_status"]) == (
        None, "no_agreement")
    assert (rows["my_corpus_u3"]["start"], rows["my_corpus_u3"]["end"]) == (1.0, 2.5)
    problems = {p["error_type"]: p for p in m.problems.to_pylist()}
    assert set(problems) == {"LabelWithoutMedia", "UnknownLabel", "LabelFileError"}
    assert problems["LabelWithoutMedia"]["path"].endswith("audio/missing.wav")
    assert problems["UnknownLabel"]["message"] == (
        "my_corpus: unknown label code 'joy'; valid codes: ang, hap, neu, sad, xxx")
    assert problems["LabelFileError"]["message"].endswith(
        "my_corpus.csv:7: expected a number for start, got 'soon'")


def test_table_corpus_end_to_end(tmp_path, ray_local):
    root = write_table_corpus(tmp_path / "mine")
    spec = custom.load_job(None, corpus="my_corpus", manifest=str(root / "my_corpus.csv"),
                           columns={"media": "file", "utt_id": "id", "label": "emotion",
                                    "start": "start", "end": "end", "speaker": "speaker"},
                           labels={"ang": "angry", "hap": "happy", "neu": "neutral",
                                   "xxx": None, "joy": "happy"})
    cfg = RunConfig(corpora=["my_corpus"], roots=[custom.default_root(spec)],
                    out=str(tmp_path / "out"), adapters={"my_corpus": custom.make_adapter(spec)})
    result = run(cfg)
    out = Path(result.path)
    feats = pl.read_parquet(out / "features/egemaps/*.parquet")
    assert sorted(feats["utt_id"]) == ["my_corpus_u1", "my_corpus_u2", "my_corpus_u3",
                                       "my_corpus_u5"]
    status = pl.read_parquet(out / "status/egemaps/*.parquet")
    span = status.filter(pl.col("utt_id") == "my_corpus_u3")["duration_s"][0]
    assert span == pytest.approx(1.5, abs=0.01)  # cut from the 3 s file
    assert result.card["counts"]["problems_by_type"] == {"LabelFileError": 1,
                                                         "LabelWithoutMedia": 1}


def test_definition_files_are_built_in_corpora(tmp_path):
    """jobs/corpora/*.yaml are corpora like the Python adapters: listed, titled from data,
    run by name. EmoDB is one (its label map is the reviewed section of the label schema)."""
    for path in DEFINITIONS.glob("*.yaml"):
        spec = custom.load_job(str(path))
        assert jobs.ADAPTERS[spec.corpus].title == spec.title
    root = corpora.make_emodb(tmp_path / "EmoDB")
    m = jobs.build_manifest("emodb", str(root))
    row = next(r for r in m.table.to_pylist() if r["utt_id"] == "emodb_12a04Wc")
    assert (row["label"], row["label_native_name"], row["speaker"], row["gender"],
            row["split"], row["language"]) == ("angry", "Ärger (anger)", "emodb_12", "male",
                                                "validation", "de")
    assert row["transcript"] == "Heute abend könnte ich es ihm sagen."
    assert json.loads(row["meta"]) == {"source": "wav/12a04Wc.wav", "text_code": "a04",
                                       "version": "c"}


def test_a_new_corpus_is_one_data_file(tmp_path):
    """A corpus of one's own with labels, language and speakers: the file is all of it."""
    root = tmp_path / "Mine"
    for name in ("s1/s1_hello_ang.wav", "s1/s1_bye_hap.wav", "s2/s2_hello_xx.wav",
                 "s2/notes.wav"):
        write_wav(root / name, 0.3, 16_000)
    (tmp_path / "mine.yaml").write_text(
        "corpus: mine\ntitle: My corpus\nlanguage: fr\n"
        "pattern: '^(?P<speaker>s\\d)/s\\d_(?P<word>[a-z]+)_(?P<label>[a-z]+)\\.wav$'\n"
        "unexpected: '\\.wav$'\nlabels: {ang: angry, hap: happy, xx: null}\n"
        "speakers: {s1: {gender: female, split: train}, s2: {gender: male, split: test}}\n"
        "lookups: {transcript: {from: word, values: {hello: Bonjour, bye: Au revoir}}}\n")
    adapter = custom.make_adapter(custom.load_job(str(tmp_path / "mine.yaml")))
    assert adapter.title == "My corpus"
    m = jobs.build_manifest(adapter, str(root))
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    assert {k: (r["label"], r["label_status"], r["language"], r["split"], r["transcript"])
            for k, r in rows.items()} == {
        "mine_s1_bye_hap": ("happy", "labeled", "fr", "train", "Au revoir"),
        "mine_s1_hello_ang": ("angry", "labeled", "fr", "train", "Bonjour"),
        "mine_s2_hello_xx": (None, "no_agreement", "fr", "test", "Bonjour")}
    assert [(p["error_type"], p["path"].rsplit("/", 1)[-1]) for p in m.problems.to_pylist()] \
        == [("UnexpectedFile", "notes.wav")]


@pytest.mark.parametrize(("text", "message"), [
    ("corpus: Bad Name\nmanifest: x.csv\n", "expected a corpus name (`corpus:` in the job file"),
    ("corpus: ok\n", "give either `manifest:`"),
    ("corpus: ok\nmanifest: x.csv\nfoo: 1\n", "unknown keys ['foo']"),
    ("corpus: ok\npattern: '(?P<label>['\n", "pattern is not a valid regex"),
    ("corpus: ok\nmanifest: x.csv\ncolumns: {mood: m}\n", "unknown column roles ['mood']"),
    ("corpus: ok\npattern: '(?P<label>a)'\nid_format: '{label}-{take}'\n",
     "id_format names ['take'], not groups of the pattern (label)"),
    ("corpus: ok\nmanifest: x.csv\nvideo_format: '{x}.mp4'\n", "`video_format` needs `pattern:`"),
])
def test_bad_job_files_say_what_is_wrong(tmp_path, text, message):
    job = tmp_path / "job.yaml"
    job.write_text(text)
    with pytest.raises(CorpusError, match=None) as info:
        custom.load_job(str(job))
    assert message in str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("corpus: ok\nlabels:\n  a: [unclosed\n")
    with pytest.raises(ValueError, match=r"job\.yaml:\d+: expected a YAML job file"):
        custom.load_job(str(job))


def test_label_map_targets_must_be_canonical(tmp_path):
    root = write_table_corpus(tmp_path / "mine")
    spec = custom.load_job(None, corpus="x", manifest=str(root / "my_corpus.csv"),
                           columns={"media": "file", "label": "emotion"},
                           labels={"ang": "furious"})
    with pytest.raises(CorpusError, match=r"'furious'.* not canonical classes"):
        jobs.build_manifest(custom.make_adapter(spec), str(root))


def test_missing_column_is_one_clear_error(tmp_path):
    root = write_table_corpus(tmp_path / "mine")
    spec = custom.load_job(None, corpus="x", manifest=str(root / "my_corpus.csv"),
                           columns={"media": "path"})
    with pytest.raises(CorpusError, match=r"my_corpus\.csv: expected columns 'path' \(media\)"):
        jobs.build_manifest(custom.make_adapter(spec), str(root))


def test_jsonl_and_parquet_tables(tmp_path):
    root = write_table_corpus(tmp_path / "mine")
    rows = [{"file": "audio/a.wav", "emotion": "ang"}, {"file": "audio/b.wav", "emotion": "xxx"}]
    (root / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pl.DataFrame(rows).write_parquet(root / "t.parquet")
    for table in ("t.jsonl", "t.parquet"):
        spec = custom.load_job(None, corpus="x", manifest=str(root / table),
                               columns={"media": "file", "label": "emotion"},
                               labels={"ang": "angry", "xxx": None})
        m = jobs.build_manifest(custom.make_adapter(spec), str(root))
        assert m.table["label"].to_pylist() == ["angry", None]
        assert m.table["utt_id"].to_pylist() == ["x_a", "x_b"]


def test_pattern_ids_are_unique_or_reported(tmp_path):
    """Two files with one stem: with ids from the stem the second is reported, never a second
    row with the same id; `id_from: path` keeps both."""
    root = tmp_path / "Twice"
    for name in ("a/x_ang.wav", "b/x_ang.wav"):
        write_wav(root / name, 0.2, 16_000)
    text = ("corpus: twice\npattern: '(?P<speaker>[ab])/x_(?P<label>[a-z]+)\\.wav$'\n"
            "labels: {ang: angry}\n")
    (tmp_path / "stem.yaml").write_text(text)
    (tmp_path / "path.yaml").write_text(text + "id_from: path\n")
    by_stem = jobs.build_manifest(custom.make_adapter(custom.load_job(
        str(tmp_path / "stem.yaml"))), str(root))
    assert by_stem.table["utt_id"].to_pylist() == ["twice_x_ang"]
    assert by_stem.problems["error_type"].to_pylist() == ["DuplicateFile"]
    by_path = jobs.build_manifest(custom.make_adapter(custom.load_job(
        str(tmp_path / "path.yaml"))), str(root))
    assert by_path.table["utt_id"].to_pylist() == ["twice_a-x_ang", "twice_b-x_ang"]


def test_tsv_fields_keep_commas_and_values_are_trimmed(tmp_path):
    """A TSV is read as one: a comma inside a text is text (nEMO's texts hold commas), padding
    around a value is not part of it (nEMO pads its speaker ids)."""
    root = tmp_path / "t"
    write_wav(root / "a.wav", 0.2, 16_000)
    (root / "t.tsv").write_text('file\temotion\ttext\tspk\na.wav\t ang \t"Oh", well, yes.'
                                '\t        S1\n', encoding="utf-8")
    spec = custom.load_job(None, corpus="x", manifest=str(root / "t.tsv"),
                           columns={"media": "file", "label": "emotion", "transcript": "text",
                                    "speaker": "spk"}, labels={"ang": "angry"},
                           lookups={"split": {"from": "speaker", "values": {"S1": "test"}}})
    m = jobs.build_manifest(custom.make_adapter(spec), str(root))
    assert not m.problems.num_rows
    r = m.table.to_pylist()[0]
    assert (r["transcript"], r["speaker"], r["label"], r["split"]) == (
        '"Oh", well, yes.', "x_S1", "angry", "test")


def test_id_and_video_from_the_pattern_groups(tmp_path):
    """`id_format` names rows from the groups; `video_format` pairs each audio file with its
    video where that file exists (an audio-only download stays audio-only)."""
    root = tmp_path / "av"
    for name in ("A1/audio/ang/001.wav", "A1/audio/ang/002.wav", "B2/audio/ang/001.wav"):
        write_wav(root / name, 0.2, 16_000)
    write_wav(root / "A1" / "video" / "ang" / "001.mp4", 0.2, 16_000)
    spec = custom.load_job(None, corpus="av",
                           pattern=r"^(?P<speaker>[AB]\d)/audio/(?P<label>\w+)/(?P<n>\d+)\.wav$",
                           id_format="{speaker}-{n}",
                           video_format="{speaker}/video/{label}/{n}.mp4", labels={"ang": "angry"})
    m = jobs.build_manifest(custom.make_adapter(spec), str(root))
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    assert sorted(rows) == ["av_A1-001", "av_A1-002", "av_B2-001"] and not m.problems.num_rows
    assert rows["av_A1-001"]["video_uri"].endswith("A1/video/ang/001.mp4")
    assert rows["av_A1-002"]["video_uri"] is None and rows["av_B2-001"]["video_uri"] is None


def test_compound_open_vocabulary_descriptions_and_captions(tmp_path):
    """A C-EXPR-DB-like corpus as a job: compound expressions as time spans of one long video,
    open-vocabulary words, a description and speech captions per span."""
    root = tmp_path / "cexpr"
    write_wav(root / "clip01.wav", 3.0, 16_000)
    (root / "spans.csv").write_text(
        "file,start,end,expr,words,desc,style\n"
        "clip01.wav,0.0,1.0,fearsur,\"startled; scared, amazed\",Eyes wide open.,tense\n"
        "clip01.wav,1.0,2.5,hap,glee,Broad smile.,\n"
        "clip01.wav,2.5,3.0,sadang,,,\n")
    spec = custom.load_job(None, corpus="cexpr", manifest=str(root / "spans.csv"),
                           language="en", columns={
                               "media": "file", "start": "start", "end": "end",
                               "label": "expr", "open_vocab": "words",
                               "description": "desc", "caption_style": "style",
                               "utt_id": "expr"},
                           labels={"fearsur": ["fearful", "surprised"], "hap": "happy",
                                   "sadang": ["sad", "angry"]})
    m = jobs.build_manifest(custom.make_adapter(spec), str(root))
    assert not m.problems.num_rows
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    fs = rows["cexpr_fearsur"]
    assert (fs["label"], fs["label_status"], fs["label_compound"], fs["label_set"]) == (
        None, "labeled", ["fearful", "surprised"], ["fearful", "surprised"])
    assert (fs["start"], fs["end"]) == (0.0, 1.0)
    # words kept as written; those the synonym table knows are normalised ("startled": not)
    assert fs["open_vocab"] == ["startled", "scared", "amazed"]
    assert fs["open_vocab_canonical"] == ["fearful", "surprised"]
    assert fs["descriptions"] == [{"text": "Eyes wide open.", "language": "en",
                                   "source": "human"}]
    assert fs["caption"] == {"speaker": None, "style": "tense", "emotion": None,
                             "overall": None}
    hap = rows["cexpr_hap"]
    assert (hap["label"], hap["label_compound"], hap["open_vocab_canonical"], hap["caption"]) \
        == ("happy", None, [], None)
    assert rows["cexpr_sadang"]["label_compound"] == ["sad", "angry"]
    with pytest.raises(CorpusError, match="compounds of two"):
        jobs.build_manifest(custom.make_adapter(custom.load_job(
            None, corpus="bad", manifest=str(root / "spans.csv"),
            columns={"media": "file", "label": "expr"},
            labels={"fearsur": ["fearful", "fearful"]})), str(root))
