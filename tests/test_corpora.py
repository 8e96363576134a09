"""Every corpus adapter on a miniature tree in its publisher's native layout, row by row."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mer_etl import jobs
from tests import corpora


def build(tmp_path, corpus):
    root = tmp_path / corpus
    root.mkdir()
    getattr(corpora, f"make_{corpus}")(root)
    m = jobs.build_manifest(corpus, str(root))
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    problems = sorted((p["error_type"], p["path"].rsplit("/", 1)[-1], p["message"])
                      for p in m.problems.to_pylist())
    return rows, problems


def soft(row):
    return {d["label"]: pytest.approx(d["p"]) for d in row["soft_label"] or []}


def test_cremad(tmp_path):
    rows, problems = build(tmp_path, "cremad")
    assert sorted(rows) == ["cremad_1001_DFA_ANG_XX", "cremad_1001_IEO_HAP_LO",
                            "cremad_1075_IEO_SAD_HI", "cremad_1085_TIE_NEU_XX"]
    ang = rows["cremad_1001_DFA_ANG_XX"]
    assert (ang["label"], ang["label_native"], ang["intensity_native"]) == ("angry", "ANG",
                                                                            "unspecified")
    assert ang["transcript"] == "Don't forget a jacket"
    assert ang["video_uri"].endswith("VideoFlash/1001_DFA_ANG_XX.flv")
    # Audio-visual votes are the soft label; each presentation is its own per-modality label,
    # and the voice-only tie A:D has no plurality label
    assert soft(ang) == {"angry": 0.6, "disgusted": 0.2, "neutral": 0.2}
    by = {e["modality"]: e for e in ang["label_by_modality"]}
    assert by["audio"]["soft_label"] == [{"label": "angry", "p": 0.5},
                                         {"label": "disgusted", "p": 0.5}]
    assert (by["audio"]["label"], by["audio"]["n_votes"]) == (None, 10)
    assert by["audiovisual"]["label"] == "angry"
    assert ang["label_entropy"] == pytest.approx(by["audiovisual"]["entropy"])
    hap = rows["cremad_1001_IEO_HAP_LO"]  # acted happy, perceived a tie of anger and disgust
    assert hap["label"] == "happy" and hap["intensity_native"] == "low"
    assert soft(hap) == {"angry": 5 / 12, "disgusted": 5 / 12, "neutral": 1 / 12, "sad": 1 / 12}
    assert [rows[k]["split"] for k in sorted(rows)] == ["train", "train", "validation", "test"]
    assert [rows[k]["gender"] for k in sorted(rows)] == ["male", "male", "female", None]
    assert ("LabelWithoutMedia", "tabulatedVotes.csv",
            "1090_ITS_FEA_XX: votes in tabulatedVotes.csv but no media file") in problems
    assert any(p[0] == "UnexpectedFile" and p[1] == "AudioMP3.mp3" for p in problems)


def test_iemocap(tmp_path):
    rows, problems = build(tmp_path, "iemocap")
    neu = rows["iemocap_Ses01F_impro01_F000"]
    assert (neu["label"], neu["label_status"], neu["transcript"]) == ("neutral", "labeled",
                                                                      "Excuse me.")
    assert (neu["valence"], neu["arousal"], neu["dominance"]) == (-0.25, -0.25, -0.25)
    assert (neu["valence_native"], neu["vad_native_min"], neu["vad_native_max"]) == (2.5, 1, 5)
    assert soft(neu) == {"neutral": 1.0}  # the self-assessment C-F1 is not a vote
    assert (neu["speaker"], neu["gender"], neu["fold"], neu["split"]) == (
        "iemocap_01F", "female", 1, "train")
    assert neu["video_uri"].endswith("Ses01F_impro01.avi")
    assert (neu["video_start"], neu["video_end"]) == (6.2901, 8.2357)
    assert neu["start"] is None  # the sentence WAV is the whole utterance
    exc = rows["iemocap_Ses01F_impro01_M000"]
    assert (exc["label"], exc["speaker"], exc["gender"]) == ("excited", "iemocap_01M", "male")
    assert soft(exc) == {"excited": 0.75, "happy": 0.25}
    xxx = rows["iemocap_Ses01F_impro01_F001"]
    assert (xxx["label"], xxx["label_status"], xxx["label_native"]) == (None, "no_agreement",
                                                                        "xxx")
    assert soft(xxx) == {"frustrated": 1 / 3, "angry": 1 / 3, "neutral": 1 / 3}
    assert rows["iemocap_Ses01F_impro01_M001"]["label"] == "frustrated"
    s5 = rows["iemocap_Ses05M_script01_1_F000"]  # speaker from the turn, not the Ses05M prefix
    assert (s5["speaker"], s5["gender"], s5["split"], s5["fold"]) == ("iemocap_05F", "female",
                                                                      "test", 5)
    assert s5["video_uri"] is None
    assert len(rows) == 5
    kinds = [(p[0], p[1]) for p in problems]
    assert kinds == [("LabelWithoutMedia", "Ses01F_impro01.txt:24"),
                     ("MediaWithoutLabel", "Ses01F_impro01_F099.wav")]


def test_meld(tmp_path):
    rows, problems = build(tmp_path, "meld")
    assert sorted(rows) == ["meld_test_dia0_utt0", "meld_train_dia0_utt0", "meld_train_dia0_utt4",
                            "meld_train_dia0_utt5", "meld_validation_dia0_utt0"]
    r = rows["meld_train_dia0_utt4"]
    assert (r["label"], r["sentiment"], r["sentiment_native"]) == ("surprised", 1.0, "positive")
    assert r["speaker"] == "meld_Chandler" and r["transcript"] == "My duties?  All right."
    assert r["audio_uri"] == r["video_uri"]
    assert r["audio_uri"].endswith("train_splits/dia0_utt4.mp4")
    meta = json.loads(r["meta"])
    assert (meta["episode_start"], meta["episode_end"]) == (994.452, 1000.917)
    assert json.loads(rows["meld_train_dia0_utt5"]["meta"])["episode_start"] == 1001.126
    assert rows["meld_train_dia0_utt0"]["valence"] is None  # sentiment is not valence
    assert rows["meld_validation_dia0_utt0"]["label"] == "angry"
    assert rows["meld_test_dia0_utt0"]["label"] == "sad"
    assert rows["meld_test_dia0_utt0"]["sentiment"] == -1.0
    assert [(p[0], p[1]) for p in problems] == [("LabelWithoutMedia", "train_sent_emo.csv:5"),
                                                ("MediaWithoutLabel", "dia9_utt9.mp4")]


def test_msp_podcast(tmp_path):
    rows, problems = build(tmp_path, "msp_podcast")
    n = rows["msp_podcast_MSP-PODCAST_0001_0008"]
    # The CSV orders EmoAct, EmoVal, EmoDom: 2.2 is arousal, 4.0 valence.
    assert (n["arousal_native"], n["valence_native"]) == pytest.approx((2.2, 4.0))
    assert (n["valence"], n["arousal"]) == pytest.approx((0.0, -0.6))
    assert (n["label"], n["split"], n["speaker"], n["gender"]) == (
        "neutral", "test1", "msp_podcast_30", "male")
    assert n["transcript"] == "so I told him no"
    x = rows["msp_podcast_MSP-PODCAST_0001_0019"]
    assert (x["label"], x["label_status"]) == (None, "no_agreement")
    o = rows["msp_podcast_MSP-PODCAST_0002_0033"]
    assert (o["label"], o["speaker"], o["gender"], o["split"]) == ("other", None, None,
                                                                    "validation")
    assert (o["valence"], o["dominance"]) == (-1.0, 1.0)
    assert rows["msp_podcast_MSP-PODCAST_0003_0001"]["label"] == "contempt"
    assert [(p[0], p[1]) for p in problems] == [("LabelWithoutMedia", "labels_consensus.csv:6"),
                                                ("MediaWithoutLabel", "MSP-PODCAST_0009_0009.wav")]


def test_mosei(tmp_path):
    rows, problems = build(tmp_path, "mosei")
    zero = rows["mosei_vidA_1_0"]  # all-zero intensities: no emotion, not "happy"
    assert (zero["label"], zero["label_status"], zero["soft_label"]) == (None, "unlabeled", None)
    assert (zero["start"], zero["end"], zero["transcript"]) == (0.0, 1.2, "hello there")
    both = rows["mosei_vidA_1_1"]
    assert (both["label"], both["label_native"]) == ("happy", "happiness")
    assert soft(both) == {"happy": 2 / 3, "sad": 1 / 3}
    assert both["sentiment"] == pytest.approx(2 / 3) and both["split"] == "train"
    # no transcript for this video: numbered by label row, never colliding with segment ids
    tie = rows["mosei_-3g5yACwYnA_r0"]
    assert (tie["label"], tie["label_status"]) == (None, "no_agreement")
    assert soft(tie) == {"angry": 0.5, "disgusted": 0.5}
    assert (tie["start"], tie["sentiment"], tie["split"]) == (0.0, -1.0, "test")
    assert json.loads(tie["meta"])["native_start"] == -0.1
    assert json.loads(tie["meta"])["sdk_id"] == "-3g5yACwYnA[0]"
    assert len(rows) == 3
    # The path of a label without media points into the .csd: CMU_MOSEI_Labels.csd:data/noMedia
    assert [(p[0], p[1]) for p in problems] == [("LabelWithoutMedia", "noMedia"),
                                                ("MediaWithoutLabel", "orphan.wav")]


def test_mosei_without_folds_has_null_splits(tmp_path):
    root = corpora.make_mosei(tmp_path / "mosei")
    (root / "cmu_mosei_std_folds.py").unlink()
    m = jobs.build_manifest("mosei", str(root))
    assert set(m.table["split"].to_pylist()) == {None}
    assert "MissingFolds" in m.problems["error_type"].to_pylist()


def test_esd(tmp_path):
    rows, problems = build(tmp_path, "esd")
    angry = rows["esd_0011_000351"]
    assert (angry["label"], angry["split"], angry["language"], angry["transcript"]) == (
        "angry", "train", "en", "The nine the eggs, I keep.")
    assert rows["esd_0011_000701"]["split"] == "validation"
    zh = rows["esd_0001_001051"]
    assert (zh["label"], zh["language"]) == ("sad", "zh")
    assert zh["transcript"] == "打远一看，它们的确很是美丽。"
    assert json.loads(zh["meta"])["transcript_emotion"] == "伤心"
    assert rows["esd_0011_001741"]["label"] == "surprised"
    assert [(p[0], p[1]) for p in problems] == [("LabelMismatch", "0011_001741.wav")]


def test_emodb(tmp_path):
    rows, problems = build(tmp_path, "emodb")
    expected = {"emodb_03a01Fa": ("happy", "male", "train"),
                "emodb_08b10Lb": ("bored", "female", "train"),
                "emodb_09a05Ea": ("disgusted", "female", "train"),
                "emodb_10b03Ab": ("fearful", "male", "train"),
                "emodb_12a04Wc": ("angry", "male", "validation"),
                "emodb_14a07Ta": ("sad", "female", "validation"),
                "emodb_16b01Nd": ("neutral", "female", "test")}
    assert {k: (r["label"], r["gender"], r["split"]) for k, r in rows.items()} == expected
    assert rows["emodb_03a01Fa"]["transcript"] == "Der Lappen liegt auf dem Eisschrank."
    assert rows["emodb_03a01Fa"]["language"] == "de"
    assert [(p[0], p[1]) for p in problems] == [("UnexpectedFile", "03x01Fa.wav")]


def test_tess(tmp_path):
    rows, problems = build(tmp_path, "tess")
    assert {k: (r["label_native"], r["label"], r["split"]) for k, r in rows.items()} == {
        "tess_OAF_back_angry": ("angry", "angry", "train"),
        "tess_YAF_dog_ps": ("ps", "surprised", "test"),
        "tess_OAF_bath_pleasant_surprised": ("pleasant_surprised", "surprised", "train"),
        "tess_YAF_youth_neutral": ("neutral", "neutral", "test"),
        "tess_OAF_food_fear": ("fear", "fearful", "train"),
    }
    assert rows["tess_OAF_back_angry"]["transcript"] == "Say the word back"
    # an emotion outside TESS's seven: the file is reported with the codes that are valid
    assert [(p[0], p[1]) for p in problems] == [("UnknownLabel", "OAF_back_furious.wav")]
    assert "angry, disgust" in problems[0][2]


def test_savee(tmp_path):
    rows, problems = build(tmp_path, "savee")
    assert {k: (r["label"], r["split"]) for k, r in rows.items()} == {
        "savee_DC_a01": ("angry", "train"), "savee_DC_sa02": ("sad", "train"),
        "savee_JE_su03": ("surprised", "train"), "savee_JK_n01": ("neutral", "validation"),
        "savee_KL_h05": ("happy", "test"), "savee_KL_d15": ("disgusted", "test"),
        "savee_KL_f10": ("fearful", "test")}
    assert [(p[0], p[1]) for p in problems] == [("UnexpectedFile", "x01.wav")]


def test_speaker_ids_never_collide_across_corpora(tmp_path):
    speakers = {}
    for corpus in ("cremad", "iemocap", "meld", "msp_podcast", "mosei", "esd", "emodb", "tess",
                   "savee"):
        rows, _ = build(tmp_path, corpus)
        for r in rows.values():
            if r["speaker"]:
                assert r["speaker"].startswith(f"{corpus}_")
                speakers.setdefault(r["speaker"], corpus)
    assert len(set(speakers.values())) == 9


def test_unknown_label_code_names_the_valid_codes(tmp_path):
    root = corpora.make_msp_podcast(tmp_path / "msp")
    csv = root / "Labels" / "labels_consensus.csv"
    csv.write_text(csv.read_text().replace("0001_0008.wav,N", "0001_0008.wav,Q"))
    m = jobs.build_manifest("msp_podcast", str(root))
    (msg,) = [p["message"] for p in m.problems.to_pylist() if p["error_type"] == "UnknownLabel"]
    assert msg == ("msp_podcast: unknown label code 'Q'; valid codes: A, C, D, F, H, N, O, S, "
                   "U, X")
    assert "msp_podcast_MSP-PODCAST_0001_0008" not in m.table["utt_id"].to_pylist()


def test_malformed_label_file_names_file_and_line(tmp_path):
    """A bad rating costs that rating (null), not the turn and never the dialog."""
    root = corpora.make_iemocap(tmp_path / "iemocap")
    ev = root / "Session5" / "dialog" / "EmoEvaluation" / "Ses05M_script01_1.txt"
    ev.write_text(ev.read_text().replace("[1.5000, 4.5000, 4.0000]", "[1.5000, loud, 4.0000]"))
    m = jobs.build_manifest("iemocap", str(root))
    (p,) = [p for p in m.problems.to_pylist() if p["error_type"] == "MalformedLine"]
    assert p["path"].endswith("Ses05M_script01_1.txt:3")
    assert p["message"].endswith("Ses05M_script01_1.txt:3: expected A a rating 1-5, got 'loud'")
    (row,) = [r for r in m.table.to_pylist() if r["utt_id"] == "iemocap_Ses05M_script01_1_F000"]
    assert (row["label"], row["arousal"], row["valence_native"]) == ("angry", None, 1.5)


def test_iemocap_bad_lines_cost_their_turn_only(tmp_path):
    root = corpora.make_iemocap(tmp_path / "iemocap")
    ev = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    text = ev.read_text().replace("[10.0100 - 11.3925]", "[10.0100 - oops]")  # M000's summary
    ev.write_text(text.replace("C-E3:\tNeutral;\t()", "C-E3:\tBoredom;\t()", 1))
    m = jobs.build_manifest("iemocap", str(root))
    ids = set(m.table["utt_id"].to_pylist())
    assert "iemocap_Ses01F_impro01_M000" not in ids  # its summary line is unreadable
    assert {"iemocap_Ses01F_impro01_F000", "iemocap_Ses01F_impro01_M001"} <= ids
    kinds = Counter(p["error_type"] for p in m.problems.to_pylist())
    assert kinds["MalformedLine"] == 1 and kinds["UnknownLabel"] == 1
    f000 = next(r for r in m.table.to_pylist() if r["utt_id"].endswith("F000"))
    assert soft(f000) == {"neutral": 1.0}  # E2 and E4 still count; E3's Boredom is dropped


def test_adapters_read_through_fsspec(tmp_path):
    """A root given as a URI goes through fsspec like a local path (object stores use the
    same calls); media URIs keep the protocol."""
    root = corpora.make_savee(tmp_path / "savee")
    m = jobs.build_manifest("savee", f"file://{root}")
    assert m.table.num_rows == 7
    assert m.table["audio_uri"][0].as_py().startswith(str(root))


def test_msp_podcast_ratings_land_in_the_dataset(tmp_path, ray_local):
    """labels_detailed.csv -> soft labels in the manifest and ratings.parquet in the dataset,
    listed (and hashed) in the card; a changed rating gives a new version."""
    import pyarrow.parquet as pq

    from mer_etl.pipeline import RunConfig, run

    root = corpora.make_msp_podcast(tmp_path / "msp")
    detailed = root / "Labels" / "labels_detailed.csv"
    detailed.write_text(
        "FileName,EmoDetail\n"
        "MSP-PODCAST_0001_0008.wav,WORKER00001; Neutral; Neutral; A:2.0; V:4.0; D:3.0;\n"
        "MSP-PODCAST_0001_0008.wav,WORKER00002; Sad; Sad,Tired; A:2.0; V:3.0; D:2.0;\n"
        "MSP-PODCAST_0001_0008.wav,garbage\n")
    cfg = RunConfig(corpora=["msp_podcast"], roots=[str(root)], out=str(tmp_path / "out"),
                    extractors=[])
    first = run(cfg)
    ratings = pq.read_table(f"{first.path}/ratings.parquet").to_pylist()
    assert [(r["rater"], r["primary"], r["secondary"]) for r in ratings] == [
        ("WORKER00001", "Neutral", ["Neutral"]), ("WORKER00002", "Sad", ["Sad", "Tired"])]
    assert "ratings.parquet" in first.card["files"]
    assert first.card["counts"]["problems_by_type"]["MalformedLine"] == 1
    row = next(r for r in pq.read_table(f"{first.path}/utterances.parquet").to_pylist()
               if r["utt_id"] == "msp_podcast_MSP-PODCAST_0001_0008")
    assert soft(row) == {"neutral": 0.5, "sad": 0.5}
    detailed.write_text(detailed.read_text().replace("D:2.0;", "D:2.5;"))
    assert run(cfg).version != first.version


def test_iemocap_evaluators_are_ratings_rows(tmp_path):
    root = corpora.make_iemocap(tmp_path / "iemocap")
    m = jobs.build_manifest("iemocap", str(root))
    rows = [r for r in m.ratings.to_pylist() if r["utt_id"] == "iemocap_Ses01F_impro01_F000"]
    # C-E2, C-E3, C-E4 and the actor's C-F1; A-E3 and A-F1 carry val/act/dom
    assert [r["rater"] for r in rows] == ["E2", "E3", "E4", "F1"]
    e3 = rows[1]
    assert (e3["primary"], e3["secondary"], e3["presentation"]) == ("Neutral", [], "audiovisual")
    assert (e3["valence"], e3["arousal"], e3["dominance"]) == (3.0, 2.0, 2.0)
    assert rows[0]["valence"] is None and rows[3]["dominance"] == 1.0
    assert e3["source"].endswith("Ses01F_impro01.txt:5")
    m000 = [r for r in m.ratings.to_pylist() if r["utt_id"] == "iemocap_Ses01F_impro01_M000"]
    assert (m000[0]["rater"], m000[0]["primary"], m000[0]["secondary"]) == (
        "E1", "Excited", ["Happiness"])
    # only utterances in the manifest have ratings (F002 has no WAV)
    assert not [r for r in m.ratings.to_pylist() if r["utt_id"].endswith("F002")]
