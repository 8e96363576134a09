"""The RAVDESS adapter on generated trees in the exact native layout."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from mer_etl import jobs
from mer_etl.jobs import ravdess
from mer_etl.jobs.base import CorpusError
from mer_etl.schemas.labels import load_label_schema
from tests.media import write_wav

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgusted", "08": "surprised"}


def valid_codes():
    """Every (channel, emotion, intensity, statement, repetition) RAVDESS publishes."""
    for chan, emo, inten, stmt, rep in itertools.product(
        ("01", "02"), EMOTIONS, ("01", "02"), ("01", "02"), ("01", "02")
    ):
        if (emo == "01" and inten == "02") or (chan == "02" and emo in ("07", "08")):
            continue
        yield chan, emo, inten, stmt, rep


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory) -> Path:
    """Every valid code for a male (01) and a female (24) actor, audio-only WAVs."""
    root = tmp_path_factory.mktemp("ravdess_full")
    proto = write_wav(root / "proto.wav", seconds=0.05)
    for actor in ("01", "24"):
        for chan, emo, inten, stmt, rep in valid_codes():
            dest = root / f"Actor_{actor}" / f"03-{chan}-{emo}-{inten}-{stmt}-{rep}-{actor}.wav"
            dest.parent.mkdir(exist_ok=True)
            shutil.copy(proto, dest)
    proto.unlink()
    return root


def test_every_code_maps_row_by_row(full_tree):
    m = jobs.build_manifest("ravdess", str(full_tree))
    rows = {r["utt_id"]: r for r in m.table.to_pylist()}
    expected = list(valid_codes())
    assert len(expected) == 104  # 60 speech + 44 song performances per actor
    assert len(rows) == 2 * len(expected)
    assert m.problems.num_rows == 0
    for actor in ("01", "24"):
        for chan, emo, inten, stmt, rep in expected:
            row = rows[f"ravdess_{chan}-{emo}-{inten}-{stmt}-{rep}-{actor}"]
            assert row["label_native"] == emo
            assert row["label"] == EMOTIONS[emo]
            assert row["label_status"] == "labeled"
            assert row["intensity_native"] == {"01": "normal", "02": "strong"}[inten]
            assert row["transcript"] == ravdess.STATEMENTS[stmt]
            assert row["speaker"] == f"ravdess_{actor}"
            assert row["gender"] == ("male" if actor == "01" else "female")
            assert row["split"] == ("train" if actor == "01" else "test")
            assert row["language"] == "en"
            meta = json.loads(row["meta"])
            assert meta["vocal_channel"] == ("speech" if chan == "01" else "song")
            assert (meta["statement"], meta["repetition"], meta["actor"]) == (
                int(stmt), int(rep), int(actor))
            assert row["audio_uri"].endswith(f"03-{chan}-{emo}-{inten}-{stmt}-{rep}-{actor}.wav")
            assert row["video_uri"] is None
            assert len(row["audio_sha256"]) == 64
            assert row["valence"] is None and row["soft_label"] is None


@pytest.mark.parametrize(("actor", "split"), [(1, "train"), (20, "train"), (21, "validation"),
                                              (22, "validation"), (23, "test"), (24, "test")])
def test_split_is_speaker_independent_and_fixed(actor, split):
    assert ravdess.split_for_actor(actor) == split


def test_modalities_of_one_performance_are_one_utterance(tmp_path):
    actor = tmp_path / "Actor_12"
    write_wav(actor / "03-01-05-01-02-01-12.wav", 0.1)
    (actor / "01-01-05-01-02-01-12.mp4").write_bytes(b"av")  # content irrelevant to the scan
    (actor / "02-01-05-01-02-01-12.mp4").write_bytes(b"video only")
    (actor / "02-01-04-01-02-01-12.mp4").write_bytes(b"video only, no audio at all")
    rows = {r["utt_id"]: r for r in jobs.build_manifest("ravdess", str(tmp_path)).table.to_pylist()}
    assert set(rows) == {"ravdess_01-05-01-02-01-12", "ravdess_01-04-01-02-01-12"}
    both = rows["ravdess_01-05-01-02-01-12"]
    assert both["audio_uri"].endswith("03-01-05-01-02-01-12.wav")
    assert both["video_uri"].endswith("01-01-05-01-02-01-12.mp4")
    assert json.loads(both["meta"])["modalities"] == ["audio", "av", "video"]
    silent = rows["ravdess_01-04-01-02-01-12"]
    assert silent["audio_uri"] is None and silent["video_uri"].endswith("02-01-04-01-02-01-12.mp4")


@pytest.mark.parametrize(("name", "message"), [
    ("notes.txt", "expected a file named MM-VV-EE-II-SS-RR-AA"),
    ("03-01-09-01-01-01-12.wav", "unknown label code '09'; valid codes: 01, 02, 03"),
    ("03-01-01-02-01-01-12.wav", "neutral (01) has no strong intensity"),
    ("03-02-07-01-01-01-12.wav", "song has no disgust"),
    ("04-01-03-01-01-01-12.wav", "modality '04'"),
    ("03-01-03-01-01-01-12.mp4", "modality 03 in '03-01-03-01-01-01-12.mp4' needs a .wav"),
    ("03-01-03-01-03-01-12.wav", "statement '03'"),
    ("03-01-03-01-01-01-30.wav", "actor '30'"),
    ("03-01-03-01-01-01-13.wav", "actor 13 in the name but folder Actor_12"),
])
def test_bad_names_are_reported_with_file_and_expectation(tmp_path, name, message):
    write_wav(tmp_path / "Actor_12" / "03-01-05-01-02-01-12.wav", 0.1)
    write_wav(tmp_path / "Actor_12" / name, 0.1)
    m = jobs.build_manifest("ravdess", str(tmp_path))
    assert m.table.num_rows == 1
    (problem,) = m.problems.to_pylist()
    assert problem["path"].endswith(f"Actor_12/{name}")
    assert problem["stage"] == "manifest"
    assert message in problem["message"]


def test_duplicate_recording_is_reported(tmp_path):
    write_wav(tmp_path / "Audio_Speech" / "Actor_12" / "03-01-05-01-02-01-12.wav", 0.1)
    write_wav(tmp_path / "copy" / "Actor_12" / "03-01-05-01-02-01-12.wav", 0.1)
    m = jobs.build_manifest("ravdess", str(tmp_path))
    assert m.table.num_rows == 1
    (problem,) = m.problems.to_pylist()
    assert problem["error_type"] == "DuplicateFile"


def test_missing_root_is_one_clear_error(tmp_path):
    with pytest.raises(CorpusError, match=r"ravdess: root '.*nowhere' does not exist"):
        jobs.build_manifest("ravdess", str(tmp_path / "nowhere"))


def test_empty_root_is_one_clear_error(tmp_path):
    with pytest.raises(CorpusError, match=r"no usable media .*\(expected Actor_NN/MM-VV"):
        jobs.build_manifest("ravdess", str(tmp_path))


def test_root_of_foreign_files_names_the_first(tmp_path):
    (tmp_path / "Audio_Speech_Actors_01-24.zip").write_bytes(b"PK")
    with pytest.raises(CorpusError, match=r"Audio_Speech_Actors_01-24\.zip"):
        jobs.build_manifest("ravdess", str(tmp_path))


def test_unknown_corpus_names_the_closest_ones():
    with pytest.raises(CorpusError, match=r"unknown corpus .ravdes.; did you mean ravdess\b.*"
                                          r"`mer-etl corpora` lists the \d+ known ones"):
        jobs.get_adapter("ravdes")
    with pytest.raises(CorpusError, match=r"unknown corpus .zzz.; `mer-etl corpora` lists"):
        jobs.get_adapter("zzz")


class UnlistableFS(LocalFileSystem):
    """A real local filesystem where one directory cannot be listed (tests run as root, so
    permissions cannot produce this)."""

    def ls(self, path, detail=False, **kwargs):
        if path.rstrip("/").endswith("Actor_13"):
            raise PermissionError(13, "Permission denied", path)
        return super().ls(path, detail=detail, **kwargs)


def test_unreadable_directory_is_recorded_and_the_rest_lands(tmp_path):
    write_wav(tmp_path / "Actor_12" / "03-01-05-01-02-01-12.wav", 0.1)
    write_wav(tmp_path / "Actor_13" / "03-01-05-01-02-01-13.wav", 0.1)
    result = ravdess.scan(UnlistableFS(), str(tmp_path), load_label_schema())
    assert [r.utt_id for r in result.rows] == ["ravdess_01-05-01-02-01-12"]
    (problem,) = result.problems
    assert problem["error_type"] == "UnreadableDirectory"
    assert problem["path"].endswith("Actor_13")


def test_symlinks_leaving_the_root_are_refused(tmp_path):
    outside = tmp_path / "outside"
    write_wav(outside / "03-01-05-01-02-01-12.wav", 0.1)
    root = tmp_path / "RAVDESS"
    write_wav(root / "Actor_12" / "03-01-04-01-02-01-12.wav", 0.1)
    (root / "Actor_12" / "03-01-03-01-02-01-12.wav").symlink_to(
        outside / "03-01-05-01-02-01-12.wav")
    (root / "Actor_13").symlink_to(outside, target_is_directory=True)
    (root / "Actor_12" / "loop").symlink_to(root, target_is_directory=True)
    (root / "inside.wav").symlink_to(root / "Actor_12" / "03-01-04-01-02-01-12.wav")
    m = jobs.build_manifest("ravdess", str(root))
    assert m.table["utt_id"].to_pylist() == ["ravdess_01-04-01-02-01-12"]
    unsafe = {p["path"].rsplit("/", 1)[-1]: p["message"] for p in m.problems.to_pylist()
              if p["error_type"] == "UnsafePath"}
    assert set(unsafe) == {"03-01-03-01-02-01-12.wav", "Actor_13", "loop"}
    assert unsafe["Actor_13"].startswith("symlink points outside the corpus root")
    assert unsafe["loop"].startswith("directory loop")
