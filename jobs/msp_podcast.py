"""MSP-Podcast: Audios/*.wav with Labels/labels_consensus.csv.

Columns FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set. Note the order of
the dimensional columns: arousal (EmoAct), valence, dominance, each on 1-7. EmoClass X (no
agreement) has a null label with status no_agreement; O is the class "other". Split_Set is the
official split: Train -> train, Development -> validation, Test1/Test2/Test3 -> test1/2/3.
SpkrID "Unknown" is a null speaker. Transcripts/<name>.txt are read when present.
Per-annotator labels (labels_detailed.csv) are not read: their format is not pinned down yet.
"""

from __future__ import annotations

from typing import Any

from fsspec import AbstractFileSystem

from jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    csv_records,
    label_fields,
    read_text,
    report_unpaired,
    stem,
    to_float,
    vad_fields,
    walk_files,
)
from schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "msp_podcast"
LAYOUT = "Audios/MSP-PODCAST_0001_0008.wav with Labels/labels_consensus.csv"
COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]
SPLITS = {"Train": "train", "Development": "validation", "Test1": "test1", "Test2": "test2",
          "Test3": "test3"}


def parse_consensus(text: str, path: str) -> list[dict[str, Any]]:
    rows = []
    for line, row in csv_records(text, path, COLUMNS):
        dims = {}
        for col in ("EmoAct", "EmoVal", "EmoDom"):
            value = to_float(row[col], path, line, f"{col} in [1, 7]")
            if not 1 <= value <= 7:
                raise LabelFileError(path, line, f"{col} in [1, 7]", row[col])
            dims[col] = value
        if row["Split_Set"] not in SPLITS:
            raise LabelFileError(path, line, f"Split_Set one of {', '.join(SPLITS)}",
                                 row["Split_Set"])
        if not row["FileName"].endswith(".wav"):
            raise LabelFileError(path, line, "FileName ending in .wav", row["FileName"])
        rows.append({"line": line, **row, **dims})
    return rows


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    audio: dict[str, str] = {}
    transcripts: dict[str, str] = {}
    consensus = None
    for path in walk_files(fs, root, result, CORPUS):
        name, parent = basename(path), path.rsplit("/", 2)[-2]
        if name == "labels_consensus.csv":
            consensus = path
        elif parent == "Audios" and name.endswith(".wav"):
            audio[name] = path
        elif parent == "Transcripts" and name.endswith(".txt"):
            transcripts[stem(path)] = path
    if consensus is None:
        if audio:
            result.problem(CORPUS, root, "MissingLabelFile",
                           "expected Labels/labels_consensus.csv; no utterance can be labelled")
        return result
    try:
        records = {r["FileName"]: r for r in parse_consensus(read_text(fs, consensus), consensus)}
    except LabelFileError as exc:
        result.problem(CORPUS, consensus, "LabelFileError", str(exc))
        return result
    labelled = {k: f"{consensus}:{r['line']}" for k, r in records.items()}
    for name in report_unpaired(result, CORPUS, labelled, audio, "audio file"):
        rec = records[name]
        try:
            row = _row(rec, audio[name], labels)
        except UnknownLabelError as exc:
            result.problem(CORPUS, labelled[name], "UnknownLabel", str(exc))
            continue
        if stem(name) in transcripts:
            row["transcript"] = read_text(fs, transcripts[stem(name)]).strip()
        result.rows.append(row)
    return result


def _row(rec: dict[str, Any], path: str, labels: LabelSchema) -> dict[str, Any]:
    speaker = rec["SpkrID"].strip()
    gender = rec["Gender"].strip().lower()
    return {
        "utt_id": f"{CORPUS}_{stem(path)}",
        "corpus": CORPUS,
        "speaker": None if speaker.lower() == "unknown" else f"{CORPUS}_{speaker}",
        "gender": gender if gender in ("female", "male") else None,
        "language": "en",
        "split": SPLITS[rec["Split_Set"]],
        "_audio_path": path,
        **label_fields(labels, CORPUS, rec["EmoClass"].strip()),
        # labels_consensus.csv orders the dimensions arousal, valence, dominance.
        **vad_fields(labels, CORPUS, rec["EmoVal"], rec["EmoAct"], rec["EmoDom"]),
        "meta": {"split_set": rec["Split_Set"]},
    }


ADAPTER = Adapter(name=CORPUS, title="MSP-Podcast", layout=LAYOUT, scan=scan)
