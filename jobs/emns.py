"""EMNS (Noriy et al. 2023, "EMNS /Imz/ Corpus: An emotive single-speaker dataset for narrative
storytelling in games, television and graphic novels"; OpenSLR 136): one British English voice
acting game and story lines, with a description of each line's delivery.

Layout: `metadata.csv`, pipe-separated, columns id | utterance | description | emotion |
date_created | status | gender | age | level | audio_recording | user_id, and the audio in
`cleaned_webm/`. `audio_recording` names the file as recorded (`wavs/<name>.webm`); the
release ships it as `cleaned_webm/<name>.webm`, so the file is found by its name. The emotion
is spelled both "Surprised" and "Surprise"; `level` (the intensity) goes to
`intensity_native`; the description of the delivery, a template naming {user_id},
{transcription} and {emotion}, is filled in and kept in `descriptions` (source: the corpus).
One speaker, so no speaker-independent split: ours is text-independent, by the utterance
text: crc32(text) % 10 == 0 test, == 1 validation, else train.
"""

from __future__ import annotations

import zlib

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    csv_records,
    read_text,
    safe_id,
    stem,
    walk_files,
)
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "emns"
LAYOUT = ("metadata.csv (pipe-separated: id|utterance|...|emotion|...|audio_recording) with "
          "cleaned_webm/<name>.webm")
REQUIRED = ["id", "utterance", "emotion", "audio_recording"]


def split_of(text: str) -> str:
    bucket = zlib.crc32(text.strip().lower().encode()) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    table, audio = None, {}
    for path in walk_files(fs, root, result, CORPUS):
        if basename(path) == "metadata.csv":
            table = path
        elif path.lower().endswith((".webm", ".wav", ".flac")):
            audio.setdefault(stem(path), path)
    if table is None:
        if audio:
            result.problem(CORPUS, root, "MissingLabelFile", "expected metadata.csv")
        return result
    bad: list[LabelFileError] = []
    try:
        records = list(csv_records(read_text(fs, table), table, REQUIRED, bad, delimiter="|"))
    except LabelFileError as exc:
        result.problem(CORPUS, table, "LabelFileError", f"{exc} (no label read)")
        return result
    used: set[str] = set()
    for line, rec in records:
        where = f"{table}:{line}"
        name = stem(rec["audio_recording"].strip())
        media = audio.get(name)
        if media is None:
            result.problem(CORPUS, where, "LabelWithoutMedia",
                           f"no cleaned_webm/{name}.webm for {rec['audio_recording']!r}")
            continue
        if name in used:
            result.problem(CORPUS, where, "DuplicateRow", f"{name} listed twice; the first "
                           "row is kept")
            continue
        try:
            row = rows.row(safe_id(name), audio=media,
                           speaker=rec.get("user_id", "").strip() or None,
                           code=rec["emotion"].strip(), split=split_of(rec["utterance"]),
                           transcript=rec["utterance"].strip(),
                           intensity_native=rec.get("level", "").strip() or None,
                           descriptions=_description(rec),
                           meta={"id": rec["id"].strip(), "gender": rec.get("gender"),
                                 "age": rec.get("age"), "source": where})
        except UnknownLabelError as exc:
            result.problem(CORPUS, where, "UnknownLabel", str(exc))
            continue
        used.add(name)
        result.rows.append(row)
    result.bad_lines(CORPUS, bad)
    for name in sorted(set(audio) - used):
        result.problem(CORPUS, audio[name], "MediaWithoutLabel", f"{name}: not in metadata.csv")
    return result


def _description(rec: dict[str, str]) -> list[dict[str, str]] | None:
    """The delivery description with its placeholders filled (str.format would trip on any
    other brace in the text)."""
    text = (rec.get("description") or "").strip()
    if not text:
        return None
    for key, value in (("{user_id}", "The speaker"), ("{transcription}", rec["utterance"]),
                       ("{emotion}", rec["emotion"].strip().lower())):
        text = text.replace(key, value.strip())
    return [{"text": text, "language": "en", "source": "emns"}]


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
