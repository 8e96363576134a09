"""Every adapter on a full-scale tree of its corpus (real file names, real label files where
public): the manifest must hold the publisher's counts per split and per label."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mer_etl import jobs
from mer_etl.jobs.reconcile import label_counts
from mer_etl.schemas.publisher import load_publisher_facts
from tests import fullscale


def manifest(tmp_path, corpus, **kw):
    root = tmp_path / corpus
    root.mkdir()
    extra = fullscale.builder(corpus)(root, **kw)
    m = jobs.build_manifest(corpus, str(root))
    rows = m.table.to_pylist()
    for r in rows:
        r["meta"] = json.loads(r["meta"]) if r["meta"] else {}
    return m, {r["utt_id"]: r for r in rows}, extra


def assert_publisher_counts(m, rows, corpus, short=()):
    """Every stated split and label count holds, except the (split, found) pairs in `short`."""
    for exp in load_publisher_facts()[corpus].counts:
        for code, (found, expected) in label_counts(list(rows.values()), exp).items():
            assert found == expected or short, (corpus, exp.subset, code, found, expected)
    got = {(r["subset"], r["split"]): r["found"] for r in m.reconciliation}
    want = {(r["subset"], r["split"]): r["expected"] for r in m.reconciliation}
    for key, found in short:
        want[key] = found
    assert got == want


def clean(tmp_path, corpus, total):
    """The corpus's full-scale tree: `total` rows, no problem, every publisher count holds."""
    m, rows, extra = manifest(tmp_path, corpus)
    assert len(rows) == total and not m.problems.num_rows
    assert_publisher_counts(m, rows, corpus)
    return rows, extra


def problem_types(m):
    return Counter(m.problems["error_type"].to_pylist())


def test_ravdess(tmp_path):
    rows, _ = clean(tmp_path, "ravdess", 1440)
    r = rows["ravdess_01-05-01-02-01-18"]  # Actor_18/03-01-05-01-02-01-18.wav
    assert (r["label"], r["gender"], r["split"], r["intensity_native"]) == (
        "angry", "female", "train", "normal")


def test_cremad_real_tables(tmp_path):
    m, rows, _ = manifest(tmp_path, "cremad")
    assert len(rows) == 7442
    assert_publisher_counts(m, rows, "cremad")
    # every clip has its three presentations' votes from the real tabulatedVotes.csv
    assert all([e["modality"] for e in r["label_by_modality"]] == ["audio", "visual",
                                                                    "audiovisual"]
               for r in rows.values())
    assert Counter(r["gender"] for r in rows.values()) == {"male": 3930, "female": 3512}
    # files the publisher documents as broken are flagged, kept and counted
    bad = {r for r, row in rows.items() if "known_issue" in row["meta"]}
    assert bad == {"cremad_1076_MTI_SAD_XX", "cremad_1076_MTI_NEU_XX",
                   "cremad_1064_TIE_SAD_XX", "cremad_1064_IEO_DIS_MD"}
    assert problem_types(m) == {"KnownBadMedia": 4}
    r = rows["cremad_1001_DFA_ANG_XX"]
    assert r["audio_uri"].endswith("AudioWAV/1001_DFA_ANG_XX.wav")  # WAV over MP3
    assert r["video_uri"].endswith("VideoFlash/1001_DFA_ANG_XX.flv")


@pytest.mark.parametrize("release", ["current", "2018"])
def test_meld_real_csvs(tmp_path, release):
    m, rows, _ = manifest(tmp_path, "meld", release=release)
    # 13,708 labelled rows; the video download lacks train dia125_utt3 and dev dia110_utt7
    assert len(rows) == 13706
    assert problem_types(m) == {"LabelWithoutMedia": 2}
    assert_publisher_counts(m, rows, "meld", short=[(("all", "total"), 13706),
                                                    (("all", "train"), 9988),
                                                    (("all", "validation"), 1108)])
    assert not any(r["warning"] for r in m.reconciliation)  # 2 of 13,708 is under 1%
    # train Sr No. 4268 (dia437_utt2) ends at "00:06:47,28": read as 0.28 s
    meta = rows["meld_train_dia437_utt2"]["meta"]
    assert (meta["episode_start"], meta["episode_end"]) == pytest.approx((405.489, 407.28))
    assert rows["meld_test_dia187_utt2"]["meta"]["episode_end"] == pytest.approx(311.82)
    assert rows["meld_train_dia0_utt0"]["transcript"].startswith("also I was the point person")


def test_emodb(tmp_path):
    rows, _ = clean(tmp_path, "emodb", 535)
    assert (rows["emodb_03a01Wa"]["label"], rows["emodb_03a01Wa"]["gender"]) == ("angry", "male")


def test_tess(tmp_path):
    rows, _ = clean(tmp_path, "tess", 2800)
    assert Counter(r["label"] for r in rows.values()) == {
        c: 400 for c in ("angry", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")}
    assert rows["tess_OAF_lid_fear"]["transcript"] == "Say the word lid"


@pytest.mark.parametrize("nested", [False, True])
def test_savee_both_layouts(tmp_path, nested):
    m, rows, _ = manifest(tmp_path, "savee", nested=nested)
    assert len(rows) == 480 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "savee")
    r = rows["savee_JE_n23"]
    assert (r["label"], r["speaker"], r["split"]) == ("neutral", "savee_JE", "train")
    assert r["audio_uri"].endswith("AudioData/JE/n23.wav" if nested else "/JE_n23.wav")


@pytest.mark.parametrize("layout", ["current", "split"])
def test_esd_both_layouts(tmp_path, layout):
    m, rows, _ = manifest(tmp_path, "esd", layout=layout)
    assert len(rows) == 35000 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "esd")
    # the ESD split by utterance number: per block, 1-20 evaluation, 21-50 test, 51-350 train
    expected = {"esd_0016_000019": ("neutral", "validation"), "esd_0011_000371": ("angry", "test"),
                "esd_0016_000699": ("angry", "train"), "esd_0003_001401": ("surprised",
                                                                           "validation")}
    assert {k: (rows[k]["label"], rows[k]["split"]) for k in expected} == expected
    zh = rows["esd_0002_001051"]  # a UTF-16 transcript, Chinese emotion word
    assert (zh["language"], zh["transcript"], zh["meta"]["transcript_emotion"]) == (
        "zh", "打远一看 1", "伤心")
    assert rows["esd_0005_000001"]["transcript"] == "打远一看 1"  # GB18030
    assert rows["esd_0011_000001"]["gender"] == "male"


def test_iemocap(tmp_path):
    m, rows, _ = manifest(tmp_path, "iemocap")
    assert len(rows) == 10039 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "iemocap")
    assert len({r["meta"]["dialog"] for r in rows.values()}) == 151
    assert m.ratings.num_rows == 3 * 10039  # E1, E2 and the actor's self-assessment per turn
    assert Counter(r["label"] for r in rows.values() if r["label"] in
                   ("neutral", "happy", "excited", "angry", "sad")) == {
        "neutral": 1708, "happy": 595, "excited": 1041, "angry": 1103, "sad": 1084}


def test_mosei_ids_join_with_merbench_and_the_sdk(tmp_path):
    m, rows, merbench = manifest(tmp_path, "mosei")
    assert len(rows) == 22856 and not m.problems.num_rows
    # utt ids are the corpus's segment numbers, as MMSA/MERBench name segments
    assert {k.removeprefix("mosei_") for k in rows} == set(merbench)
    split = {"train": "train", "val": "validation", "test": "test"}
    agree = Counter(rows[f"mosei_{seg}"]["split"] == split[s] for seg, s in merbench.items())
    # MERBench's train has video -NFrJFQijFE (4 segments), which is in no SDK fold
    assert agree == {True: 22852, False: 4}
    r = rows["mosei_cEXJ2zFbC9I_4"]
    assert r["meta"]["sdk_id"] == "cEXJ2zFbC9I[2]"  # third labelled segment of its video
    assert r["sentiment_native"] == "-1.0" and r["transcript"] == "words of segment 4"
    (total,) = m.reconciliation
    assert (total["found"], total["expected"], total["warning"]) == (22856, 23453, True)


@pytest.mark.parametrize("release", ["1.6", "1.8", "1.9", "1.11", "2.0"])
def test_msp_podcast_every_release_naming(tmp_path, release):
    m, rows, written = manifest(tmp_path, "msp_podcast", release=release)
    assert len(rows) == len(written) == 3000 and not m.problems.num_rows
    splits = Counter(r["split"] for r in rows.values())
    assert splits == ({"train": 750, "validation": 750, "test1": 750, "test2": 750}
                      if release in ("1.6", "1.8", "1.9") else
                      {"train": 600, "validation": 600, "test1": 600, "test2": 600, "test3": 600})
    r = rows["msp_podcast_MSP-PODCAST_0001_0002"]  # EmoClass S, three raters' primary: Sad
    assert (r["label"], r["soft_label"]) == ("sad", [{"label": "sad", "p": 1.0}])
    assert m.ratings.num_rows == 9000  # three raters per segment, one row per rating
    mine = [x for x in m.ratings.to_pylist() if x["utt_id"] == r["utt_id"]]
    assert [x["rater"] for x in mine] == ["WORKER00001", "WORKER00002", "WORKER00003"]
    assert (mine[0]["primary"], mine[0]["secondary"], mine[0]["presentation"]) == (
        "Sad", ["Sad", "Concerned"], "audio")
    assert (mine[0]["arousal"], mine[0]["valence"], mine[0]["dominance"]) == (4.0, 3.0, 5.0)
    assert mine[0]["source"].endswith("labels_detailed.csv:5")
    other = rows["msp_podcast_MSP-PODCAST_0001_0009"]  # O; raters say "Other-Concerned"
    assert other["soft_label"] == [{"label": "other", "p": 1.0}]
    # from every mention (primary and secondary): the distribution, the all-inclusive set and
    # the words as the raters wrote them, normalised through the synonym table
    assert [(d["label"], round(d["p"], 4)) for d in r["soft_label_all"]] == [
        ("sad", 0.6667), ("worried", 0.3333)]
    assert (r["label_set"], r["open_vocab"], r["open_vocab_canonical"]) == (
        ["sad", "worried"], ["Sad", "Concerned"], ["sad", "worried"])
    assert r["label_entropy"] == 0.0  # three raters, one primary class


def test_case_variants_of_real_names_still_land(tmp_path):
    """Copies re-packed on case-insensitive systems: ESD `angry/` folders, SAVEE `.WAV`."""
    esd = tmp_path / "esd"
    fullscale.link(esd / "0011" / "angry" / "0011_000351.wav")
    fullscale.link(esd / "0011" / "Neutral" / "0011_000001.WAV", "wav")
    (esd / "0011" / "0011.txt").write_text("0011_000351\tText.\tangry\n0011_000001\tText.\t"
                                           "Neutral\n")
    m = jobs.build_manifest("esd", str(esd))
    assert sorted(zip(m.table["utt_id"].to_pylist(), m.table["label"].to_pylist(),
                      strict=True)) == [("esd_0011_000001", "neutral"), ("esd_0011_000351",
                                                                           "angry")]
    assert m.problems.num_rows == 0  # `angry` in the transcript agrees with the folder
    savee = tmp_path / "savee"
    fullscale.link(savee / "JE_n23.WAV", "wav")
    assert jobs.build_manifest("savee", str(savee)).table["utt_id"].to_pylist() == [
        "savee_JE_n23"]


# -- corpora defined as data (jobs/corpora/*.yaml) ------------------------------------------

def test_emovo(tmp_path):
    rows, _ = clean(tmp_path, "emovo", 588)
    r = rows["emovo_gio-f2-b2"]  # f2/gio-f2-b2.wav: joy, actress 2, short sentence 2
    assert (r["label"], r["gender"], r["split"], r["language"], r["speaker"]) == (
        "happy", "female", "train", "it", "emovo_f2")
    assert rows["emovo_tri-m3-d1"]["split"] == "test"


def test_subesco(tmp_path):
    rows, _ = clean(tmp_path, "subesco", 7000)
    r = rows["subesco_F_10_FAHMEE_S_6_FEAR_5"]
    assert (r["label"], r["gender"], r["split"], r["language"], r["speaker"]) == (
        "fearful", "female", "test", "bn", "subesco_F_10")
    assert r["meta"]["sentence"] == "6" and r["meta"]["take"] == "5"
    # the real file with a stray "]" in its name lands, under its own name
    assert rows["subesco_F_02_MONIKA_S_2_SURPRISE_3-"]["label"] == "surprised"


def test_urdu(tmp_path):
    rows, _ = clean(tmp_path, "urdu", 400)
    r = rows["urdu_SM1_F15_A015"]  # Angry/SM1_F15_A015.wav
    assert (r["label"], r["gender"], r["split"], r["language"]) == (
        "angry", "male", "validation", "ur")
    for split in ("train", "validation", "test"):  # every split has every class
        assert {x["label"] for x in rows.values() if x["split"] == split} == {
            "angry", "happy", "neutral", "sad"}


def test_jlcorpus(tmp_path):
    rows, _ = clean(tmp_path, "jlcorpus", 2400)
    r = rows["jlcorpus_male2_concerned_6b_1"]  # a secondary emotion: kept native, mapped
    assert (r["label_native"], r["label"], r["gender"], r["split"]) == (
        "concerned", "worried", "male", "test")
    assert rows["jlcorpus_female1_excited_1a_1"]["label"] == "excited"


def test_turevdb(tmp_path):
    rows, _ = clean(tmp_path, "turevdb", 1735)
    r = rows["turevdb_1984_sk_eger"]  # Sound Source/Calm/1984_sk_eger.wav
    assert (r["label"], r["speaker"], r["split"], r["language"], r["gender"]) == (
        "calm", "turevdb_1984", "train", "tr", None)


def test_oreau(tmp_path):
    rows, _ = clean(tmp_path, "oreau", 434)
    r = rows["oreau_10a02Ja"]  # OréauFR_02/f/sessj/10a02Ja.wav (a decomposed é in the folder)
    assert (r["label"], r["gender"], r["split"], r["language"]) == (
        "happy", "female", "validation", "fr")
    assert rows["oreau_07z03Sa"]["split"] == "test"  # a "z" text code, real


def test_cafe(tmp_path):
    rows, _ = clean(tmp_path, "cafe", 936)
    r = rows["cafe_12-P-2-5"]  # CaFE_48k/Peur/Fort/12-P-2-5.wav
    assert (r["label"], r["split"], r["intensity_native"], r["gender"]) == (
        "fearful", "test", "2", None)


def test_polish(tmp_path):
    rows, _ = clean(tmp_path, "polish", 450)
    r = rows["polish_m3-s_trzymaj_5"]  # m3.s_trzymaj_5.wav: the dot is not an id character
    assert (r["label"], r["gender"], r["split"], r["language"]) == (
        "fearful", "male", "train", "pl")


def test_emovdb(tmp_path):
    rows, _ = clean(tmp_path, "emovdb", 6887)
    # file names repeat across speakers: the id is the path
    r = rows["emovdb_jenie_Amused-amused_57-84_0057"]
    assert (r["label"], r["gender"], r["split"], r["speaker"]) == (
        "amused", "female", "train", "emovdb_jenie")
    s = rows["emovdb_josh_Sleepy-sleepiness_113_140_0113"]  # the file spells it otherwise
    assert (s["label"], s["split"], s["meta"]["file_emotion"]) == ("sleepy", "validation",
                                                                   "sleepiness")


def test_shemo(tmp_path):
    rows, _ = clean(tmp_path, "shemo", 2838)
    r = rows["shemo_M12N78"]  # male/M12N78.wav: male speaker 12, neutral
    assert (r["label"], r["gender"], r["split"], r["language"], r["speaker"]) == (
        "neutral", "male", "validation", "fa", "shemo_M12")
    assert rows["shemo_F30H04"]["label"] == "happy"
    assert rows["shemo_F03A01"]["split"] == "test"  # number 01-06: test, either gender


def test_aesdd(tmp_path):
    rows, _ = clean(tmp_path, "aesdd", 604)
    r = rows["aesdd_a03--3-"]  # anger/a03 (3).wav: utterance 3 in anger by actor 3
    assert (r["label"], r["speaker"], r["split"], r["language"]) == (
        "angry", "aesdd_3", "train", "el")
    # "(01)" is actor 1 and "(5)b" a retake by actor 5, kept under their own names
    assert rows["aesdd_f10--01-"]["speaker"] == "aesdd_1"
    retake = rows["aesdd_a06--5-b"]
    assert (retake["speaker"], retake["split"], retake["meta"]["take"]) == (
        "aesdd_5", "validation", "b")


def test_enterface_audio_visual(tmp_path):
    rows, _ = clean(tmp_path, "enterface", 1263)
    r = rows["enterface_s19_an_4"]  # subject 19/anger/sentence 4/s19_an_4.avi
    assert (r["label"], r["speaker"], r["split"], r["meta"]["sentence"]) == (
        "angry", "enterface_19", "train", "4")
    assert r["video_uri"] == r["audio_uri"] and r["video_uri"].endswith("s19_an_4.avi")
    # the real archive's odd names: subject 11's s12_* files, subject 3's s_3_*, subject 6's
    # clips without sentence folders, a doubled extension
    assert rows["enterface_s12_an_4"]["speaker"] == "enterface_11"
    assert rows["enterface_s_3_su_4"]["speaker"] == "enterface_3"
    assert rows["enterface_s6_an"]["meta"]["sentence"] is None
    assert rows["enterface_s16_su_3avi"]["label"] == "surprised"
    assert rows["enterface_s44_ha_1"]["split"] == "test"


def test_resd_publisher_split(tmp_path):
    rows, _ = clean(tmp_path, "resd", 1396)
    # test/07_fear_neutral/07_fear_neutral n_060.wav: the space before the letter is real
    r = rows["resd_07_fear_neutral-n_060"]
    assert (r["label"], r["split"], r["language"], r["meta"]["dialog"]) == (
        "neutral", "test", "ru", "07")
    assert rows["resd_32_happiness_enthusiasm_h_120"]["label"] == "happy"


def test_ased(tmp_path):
    rows, _ = clean(tmp_path, "ased", 2474)
    r = rows["ased_a5-02-01-01-33"]  # 05Angry/a5-02-01-01-33.wav: speaker 33
    assert (r["label"], r["speaker"], r["split"], r["language"]) == (
        "angry", "ased_33", "train", "am")
    assert rows["ased_S4-04-02-01-29"]["label"] == "sad"  # the one capital S
    assert rows["ased_s4-05-02-02-53"]["split"] == "validation"


def test_mesd(tmp_path):
    rows, _ = clean(tmp_path, "mesd", 862)
    r = rows["mesd_Fear_M_A_basta_ya"]  # a two-word word: "basta_ya"
    assert (r["label"], r["gender"], r["split"], r["meta"]["word"]) == (
        "fearful", "male", "train", "basta_ya")
    child = rows["mesd_Anger_C_A_arriba"]
    assert (child["gender"], child["meta"]["voice"]) == (None, "C")


def test_asvpesd(tmp_path):
    rows, _ = clean(tmp_path, "asvpesd", 13964)
    r = rows["asvpesd_03-01-02-01-02-56-02-02-03-12-13"]  # Audio/actor_56: speech, neutral
    assert (r["label"], r["speaker"], r["split"], r["meta"]["vocal_channel"]) == (
        "neutral", "asvpesd_56", "train", "01")
    assert rows["asvpesd_03-02-06-01-86-101-02-01-00-16"]["label"] == "fearful"
    # the folder named just "actor_": no speaker, train; the one "17" is no_agreement
    unnamed = rows["asvpesd_03-02-13-01-01-110-02-02-02-13"]
    assert (unnamed["speaker"], unnamed["split"], unnamed["label"]) == (None, "train", "other")
    assert [r["label_status"] for r in rows.values() if r["label_native"] == "17"] == [
        "no_agreement"]


def test_pavoque_segments_of_long_flacs(tmp_path):
    rows, _ = clean(tmp_path, "pavoque", 7334)
    # the outtakes part mixes styles: the label is the entry's style, not the file's
    r = rows["pavoque_m0309b-poker"]
    assert r["audio_uri"].endswith("pavoque-outtakes.flac")
    assert (r["label"], r["start"], r["end"], r["speaker"], r["language"]) == (
        "calm", 10257.34, 10269.24, "pavoque_stefan", "de")
    assert rows["pavoque_e1232-neutral"]["meta"]["part"] == "neutral"
    # every style of one prompt lands in one split (text-independent)
    by_prompt: dict[str, set] = {}
    for row in rows.values():
        by_prompt.setdefault(row["meta"]["prompt"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_prompt.values())


def test_pavoque_bad_entries_cost_themselves(tmp_path):
    fullscale.link(tmp_path / "pavoque-sad.flac")
    (tmp_path / "pavoque-sad.yaml").write_text(
        "- {prompt: obadiah0001, text: Hallo., style: sad, start: 0.0, end: 12.2}\n"
        "- {prompt: obadiah0004, text: Na., style: sad, start: 13.0}\n"
        "- {prompt: obadiah0006, text: Ja., style: gloomy, start: 14.0, end: 15.0}\n"
        "- {prompt: obadiah0007, text: Nein., style: sad, start: 9.0, end: 8.0}\n")
    fullscale.link(tmp_path / "pavoque-angry.flac")  # a part with no YAML: not a corpus part
    (tmp_path / "pavoque-happy.yaml").write_text("- {prompt: poppy0001, style: happy, "
                                                 "start: 0, end: 1}\n")  # its FLAC is absent
    m = jobs.build_manifest("pavoque", str(tmp_path))
    assert m.table["utt_id"].to_pylist() == ["pavoque_obadiah0001-sad"]
    problems = {(p["error_type"], p["path"].rsplit("/", 1)[-1]) for p in m.problems.to_pylist()}
    assert problems == {("MalformedLine", "pavoque-sad.yaml:2"),
                        ("UnknownLabel", "pavoque-sad.yaml:3"),
                        ("MalformedLine", "pavoque-sad.yaml:4"),
                        ("LabelWithoutMedia", "pavoque-happy.flac")}


def test_mosi_real_folds(tmp_path):
    m, rows, where = manifest(tmp_path, "mosi")
    assert len(rows) == 2199 and not m.problems.num_rows  # the Segmented/ copies are not read
    assert_publisher_counts(m, rows, "mosi")
    split = {"standard_train_fold": "train", "standard_valid_fold": "validation",
             "standard_test_fold": "test"}
    assert all(rows[f"mosi_{seg}"]["split"] == split[fold] for seg, fold in where.items())
    r = rows["mosi_tmZoasNr4rU_r0"]  # first segment of the first test video: sentiment -3
    assert (r["sentiment"], r["sentiment_native"], r["label_status"], r["label"]) == (
        -1.0, "-3.0", "unlabeled", None)
    assert r["video_uri"].endswith("Raw/Video/Full/tmZoasNr4rU.mp4")
    assert (r["start"], r["end"], r["video_start"], r["speaker"]) == (
        0.0, 2.5, 0.0, "mosi_tmZoasNr4rU")


@pytest.mark.parametrize("corpus", ["chsims", "chsims2"])
def test_chsims_per_modality_labels(tmp_path, corpus):
    m, rows, written = manifest(tmp_path, corpus)
    assert len(rows) == len(written) and not m.problems.num_rows
    assert_publisher_counts(m, rows, corpus)
    first = written[0]
    r = rows[f"{corpus}_video_0001_0001"]  # Raw/video_0001/0001.mp4
    assert r["video_uri"] == r["audio_uri"] and r["audio_uri"].endswith("Raw/video_0001/0001.mp4")
    assert (r["transcript"], r["split"], r["label_status"]) == (first["text"], "train",
                                                               "unlabeled")
    # the three unimodal annotations stay apart from the multimodal sentiment
    assert r["sentiment"] == pytest.approx(first["label"])
    assert [(x["modality"], round(x["sentiment"], 3)) for x in r["label_by_modality"]] == [
        ("text", first["label_T"]), ("audio", first["label_A"]), ("visual", first["label_V"])]


def test_chsims_bad_rows_cost_themselves(tmp_path):
    fullscale.link(tmp_path / "Raw" / "video_0001" / "0001.mp4")
    fullscale.link(tmp_path / "Raw" / "video_0001" / "0002.mp4")
    (tmp_path / "label.csv").write_text(
        "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
        "video_0001,1,好,0.8,1.0,0.6,0.8,Positive,train\n"
        "video_0001,2,坏,-3.0,-1.0,-1.0,-1.0,Negative,train\n"
        "video_0001,3,无,0.0,0.0,0.0,0.0,Neutral,valid\n"
        "video_0001,x,无,0.0,0.0,0.0,0.0,Neutral,valid\n", encoding="utf-8")
    m = jobs.build_manifest("chsims", str(tmp_path))
    assert m.table["utt_id"].to_pylist() == ["chsims_video_0001_0001"]
    assert sorted((p["error_type"], p["path"].rsplit("/", 1)[-1])
                  for p in m.problems.to_pylist()) == [
        ("LabelWithoutMedia", "0003.mp4"), ("MalformedLine", "label.csv:3"),
        ("MalformedLine", "label.csv:5")]


def test_mead_audio_and_front_video(tmp_path):
    m, rows, paths = manifest(tmp_path, "mead")
    assert len(rows) == len(paths) == 31729 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "mead")
    r = rows["mead_W019-neutral-1-020"]  # W019/audio/neutral/level_1/020.m4a
    assert (r["label"], r["gender"], r["split"], r["intensity_native"], r["video_uri"]) == (
        "neutral", "female", "train", "1", None)  # no video downloaded for W019
    v = rows["mead_M003-angry-3-001"]
    assert v["video_uri"].endswith("M003/video/front/angry/level_3/001.mp4")
    assert (v["gender"], v["label"]) == ("male", "angry")
    assert rows["mead_M040-contempt-2-005"]["split"] == "test"


def test_casia_public_subset_both_placements(tmp_path):
    rows, _ = clean(tmp_path, "casia", 1200)
    r = rows["casia_liuchanhg-angry-201"]
    assert (r["label"], r["gender"], r["split"], r["language"]) == (
        "angry", "female", "train", "zh")
    w = rows["casia_wangzhe-surprise-250"]  # under 相同文本300/
    assert (w["label"], w["gender"], w["split"]) == ("surprised", "male", "train")
    assert rows["casia_ZhaoZuoxiang-sad-233"]["split"] == "test"


def test_nemo_real_table_quirks(tmp_path):
    m, rows, written = manifest(tmp_path, "nemo")
    assert len(rows) == len(written) == 4481 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "nemo")
    r = rows["nemo_EB0_anger_1"]
    # the padded speaker id is trimmed; the text keeps its comma (a TSV, not a CSV)
    assert (r["speaker"], r["gender"], r["split"], r["label"], r["transcript"]) == (
        "nemo_EB0", "female", "test", "angry", "„Zdanie 1”, powiedział.")
    assert r["audio_uri"].endswith("samples/EB0_anger_1.wav")
    assert rows["nemo_MP0_surprised_41"]["split"] == "train"


def test_mer2023_parts(tmp_path):
    rows, _ = clean(tmp_path, "mer2023", 5030)
    r = rows["mer2023_sample_train_00002"]  # happy, valence -3 of [-5, 5]
    assert (r["label"], r["split"], r["valence_native"], r["valence"], r["arousal"]) == (
        "happy", "train", -3.0, pytest.approx(-0.6), None)
    assert r["audio_uri"] == r["video_uri"] and r["video_uri"].endswith("train/"
                                                                        "sample_train_00002.avi")
    t1 = rows["mer2023_sample_test1_00004"]
    assert (t1["label"], t1["split"], t1["video_uri"][-4:]) == ("worried", "test1", ".mp4")
    t3 = rows["mer2023_sample_test3_00005"]  # test3 publishes no valence
    assert (t3["label"], t3["valence"], t3["split"]) == ("surprised", None, "test3")


def test_emns_metadata_names_files_as_recorded(tmp_path):
    m, rows, records = manifest(tmp_path, "emns")
    assert len(rows) == len(records) == 1181 and not m.problems.num_rows
    assert_publisher_counts(m, rows, "emns")
    expected = Counter({"Disgust": "disgusted", "Excited": "excited", "Surprise": "surprised",
                        "Sarcastic": "other", "Happy": "happy", "Neutral": "neutral",
                        "Sad": "sad", "Angry": "angry"}[r["emo"]] for r in records)
    assert Counter(r["label"] for r in rows.values()) == expected  # both spellings land
    r = rows["emns_recorded_audio_aDNcd43"]  # wavs/recorded_audio_aDNcd43.webm in metadata
    assert r["audio_uri"].endswith("cleaned_webm/recorded_audio_aDNcd43.webm")
    assert (r["label"], r["speaker"], r["language"]) == ("disgusted", "emns_7", "en")
    assert r["transcript"].startswith("Line ") and r["intensity_native"]
    assert r["descriptions"] == [{"text": "The speaker says it disgust.", "language": "en",
                                  "source": "emns"}]


def test_every_corpus_has_a_target_its_facts_and_a_full_scale_tree():
    """A corpus is done when `make <corpus>` runs it, the publisher's counts check it, the README
    documents its layout and a full-scale tree tests it: no corpus misses one of them."""
    import re
    from pathlib import Path

    top = Path(__file__).resolve().parents[1]
    make = (top / "Makefile").read_text()
    block = re.search(r"^CORPORA :=((?:.*\\\n)*.*)$", make, re.M)
    assert block is not None
    targets = set(block.group(1).replace("\\", " ").split())
    readme = (top / "README.md").read_text()
    facts = load_publisher_facts()
    assert targets == set(jobs.ADAPTERS)
    for name, adapter in jobs.ADAPTERS.items():
        assert name in facts, name
        assert re.search(rf"^\| (`\w+`, )*`{name}`", readme, re.M), name
        assert callable(fullscale.builder(name)), name
        assert adapter.modality in ("audio", "audio-visual", "text"), name
        assert adapter.license and adapter.title, name
    modalities = Counter(a.modality for a in jobs.ADAPTERS.values())
    assert len(jobs.ADAPTERS) >= 35 and modalities["audio-visual"] >= 8


def test_cremad_per_modality_labels_on_the_real_votes(tmp_path):
    """All 22,326 rows of the real tabulatedVotes.csv (7,442 clips x voice, face, audio-visual)
    become per-modality labels, checked against the file read independently here: the
    plurality class (none on a tie), the vote count and the entropy of the distribution."""
    import csv
    import math

    _, rows, _ = manifest(tmp_path, "cremad")
    letters = {"A": "angry", "D": "disgusted", "F": "fearful", "H": "happy", "N": "neutral",
               "S": "sad"}
    modality = {1: "audio", 2: "visual", 3: "audiovisual"}
    seen, ties = 0, Counter()
    with open(fullscale.real("cremad", "processedResults", "tabulatedVotes.csv"),
              encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            counts = {letters[k]: int(rec[k]) for k in letters}
            total, top = sum(counts.values()), max(counts.values())
            winners = [c for c, n in counts.items() if n == top]
            which = modality[int(rec[""]) // 100_000]
            (entry,) = [e for e in rows[f"cremad_{rec['fileName']}"]["label_by_modality"]
                        if e["modality"] == which]
            assert entry["n_votes"] == total
            assert entry["label"] == (winners[0] if len(winners) == 1 else None)
            h = -sum(n / total * math.log(n / total) for n in counts.values() if n)
            assert entry["entropy"] == pytest.approx(h / math.log(6), abs=1e-5)
            ties[which] += len(winners) > 1
            seen += 1
    assert seen == 22326
    assert all(ties.values())  # ties are real, in every presentation
