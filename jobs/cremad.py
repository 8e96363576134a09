"""CREMA-D: AudioWAV/ and VideoFlash/ files named ActorID_Sentence_Emotion_Level.

The acted emotion in the file name is the label. Perceived-emotion votes from
`processedResults/tabulatedVotes.csv` (one row per clip and presentation: 7,442 x 3) become
per-modality labels: the row id is 100000 * presentation + clip number, presentation 1
voice-only, 2 face-only, 3 audio-visual. Each presentation is its own `label_by_modality` entry
(audio, visual, audiovisual: the plurality class, none on a tie, the vote distribution, the
number of votes, their entropy); `soft_label` is the audio-visual distribution (else the
voice-only one).
Gender comes from `VideoDemographics.csv` when present.

CREMA-D has no official split; ours is speaker-independent and fixed by actor id:
1001-1073 train, 1074-1082 validation, 1083-1091 test (about 80/10/10).
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.jobs.agreement import soft_label
from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    csv_records,
    read_text,
    stem,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "cremad"
LAYOUT = "AudioWAV/1001_DFA_ANG_XX.wav (and VideoFlash/*.flv), optional processedResults/"
NAME_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.(wav|mp3|flv|mp4)$")
SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting", "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket", "ITS": "I think I've seen this before",
    "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
PRESENTATIONS = {1: "voice", 2: "face", 3: "audiovisual"}
MODALITY = {"voice": "audio", "face": "visual", "audiovisual": "audiovisual"}
VOTE_COLUMNS = ["A", "D", "F", "H", "N", "S"]
AUDIO_EXT = ("wav", "mp3")
MEDIA_EXT = ("wav", "mp3", "flv", "mp4")  # preference order when a release has both


def split_for_actor(actor: int) -> str:
    return "train" if actor <= 1073 else "validation" if actor <= 1082 else "test"


def parse_votes(text: str, path: str, labels: LabelSchema, bad: list[LabelFileError]
                ) -> dict[str, dict[str, Any]]:
    """fileName -> {presentation: votes per canonical class} from tabulatedVotes.csv; bad rows
    go to `bad`."""
    out: dict[str, dict[str, Any]] = {}
    where: dict[tuple[str, str], int] = {}
    for line, row in csv_records(text, path, ["", *VOTE_COLUMNS, "fileName"], bad):
        try:
            try:
                row_id = int(row[""])
                counts = {c: int(row[c]) for c in VOTE_COLUMNS}
            except ValueError:
                raise LabelFileError(path, line, "an integer row id and vote counts",
                                     ",".join(row.values())) from None
            presentation = PRESENTATIONS.get(row_id // 100_000)
            if presentation is None or any(v < 0 for v in counts.values()):
                raise LabelFileError(path, line, "row id 1xxxxx-3xxxxx and counts >= 0", row[""])
            clip = row["fileName"].strip()
            if (clip, presentation) in where:
                raise LabelFileError(path, line, f"one row per clip and presentation (first at "
                                     f"line {where[clip, presentation]} is kept)",
                                     f"{clip} {presentation}", error_type="DuplicateRow")
        except LabelFileError as exc:
            bad.append(exc)
            continue
        where[clip, presentation] = line
        weights: dict[str, float] = {}
        for letter, n in counts.items():
            canonical = labels.map_label(CORPUS, letter, table="votes").canonical
            weights[canonical] = weights.get(canonical, 0) + n
        out.setdefault(clip, {})[presentation] = weights
    return out


def parse_demographics(text: str, path: str, bad: list[LabelFileError]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line, row in csv_records(text, path, ["ActorID", "Sex"], bad):
        sex = row["Sex"].strip().lower()
        if sex not in ("male", "female"):
            bad.append(LabelFileError(path, line, "Sex Male or Female", row["Sex"]))
            continue
        out.setdefault(row["ActorID"].strip(), sex)
    return out


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    clips: dict[str, dict[str, str]] = {}
    tables: dict[str, str] = {}
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        if name in ("tabulatedVotes.csv", "VideoDemographics.csv"):
            tables[name] = path
            continue
        m = NAME_RE.match(name)
        if not m:
            # The repository also ships docs, licences and other result tables: only a file
            # that looks like media and is not named like a clip is a problem.
            if name.rsplit(".", 1)[-1].lower() in MEDIA_EXT and not name.startswith("._"):
                result.problem(CORPUS, path, "UnexpectedFile",
                               f"expected ActorID_Sentence_Emotion_Level.wav|flv ({LAYOUT})")
            continue
        actor, sentence, emotion, level, ext = m.groups()
        try:
            labels.map_label(CORPUS, emotion)
            if sentence not in SENTENCES or level not in LEVELS or not 1001 <= int(actor) <= 1091:
                raise ValueError(f"expected actor 1001-1091, sentence one of {sorted(SENTENCES)}"
                                 f" and level one of {sorted(LEVELS)} in {name!r}")
        except (UnknownLabelError, ValueError) as exc:
            result.problem(CORPUS, path, "UnexpectedFile", str(exc))
            continue
        kind = "audio" if ext in AUDIO_EXT else "video"
        slot = clips.setdefault(stem(path), {})
        if kind in slot:
            # The same clip twice: keep WAV over MP3 (AudioMP3/ beside AudioWAV/), else report.
            if kind == "audio" and {ext, slot[kind].rsplit(".", 1)[-1]} == set(AUDIO_EXT):
                slot[kind] = min(slot[kind], path, key=lambda p: AUDIO_EXT.index(p[-3:]))
            else:
                result.problem(CORPUS, path, "DuplicateFile", f"same clip as {slot[kind]}")
            continue
        slot[kind] = path
    votes, genders = _tables(fs, tables, labels, result)
    for name in sorted(set(votes) - set(clips)):
        result.problem(CORPUS, tables["tabulatedVotes.csv"], "LabelWithoutMedia",
                       f"{name}: votes in tabulatedVotes.csv but no media file")
    for clip, files in sorted(clips.items()):
        result.rows.append(_row(RowBuilder(CORPUS, labels), clip, files, votes.get(clip, {}),
                                genders))
    return result


def _tables(fs: AbstractFileSystem, tables: dict[str, str], labels: LabelSchema,
            result: ScanResult) -> tuple[dict[str, Any], dict[str, str]]:
    votes: dict[str, Any] = {}
    genders: dict[str, str] = {}
    for name, parse in (("tabulatedVotes.csv", lambda t, p, b: parse_votes(t, p, labels, b)),
                        ("VideoDemographics.csv", parse_demographics)):
        if name not in tables:
            continue
        path, bad = tables[name], []
        try:
            parsed = parse(read_text(fs, path), path, bad)
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no row of this file read)")
            parsed = {}
        result.bad_lines(CORPUS, bad)
        if name == "tabulatedVotes.csv":
            votes = parsed
        else:
            genders = parsed
    return votes, genders


def _row(rows: RowBuilder, clip: str, files: dict[str, str], votes: dict[str, Any],
         genders: dict[str, str]) -> Row:
    actor, sentence, emotion, level = clip.split("_")
    shown = votes.get("audiovisual") or votes.get("voice")
    return rows.row(clip, audio=files.get("audio"), video=files.get("video"), speaker=actor,
                    code=emotion, gender=genders.get(actor),
                    split=split_for_actor(int(actor)), transcript=SENTENCES[sentence],
                    intensity_native=LEVELS[level],
                    soft_label=soft_label(shown, rows.labels) if shown else None,
                    label_by_modality=[rows.by_modality(MODALITY[p], votes[p])
                                       for p in PRESENTATIONS.values() if p in votes] or None,
                    meta={"sentence": sentence, "level": level})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
