"""MELD: {train,dev,test}_sent_emo.csv and the clips dia{D}_utt{U}.mp4 of each split.

Clips live in train_splits/, dev_splits_complete/ and output_repeated_splits_test/. Each clip is
already cut, so decoding takes the whole file; the episode times from the CSV are kept in `meta`.
Emotion and sentiment are separate fields (sentiment positive/neutral/negative -> 1/0/-1).
macOS `._*` files and `final_videos_test*` files are skipped, as every MELD loader does. The CSV
text has mis-encoded characters in the original release; it is stored as shipped.

Times are `H:MM:SS,fff` (one- or two-digit hours). Three real rows (train Sr No. 4268, test
1868 and 2305) end in a two-digit fraction such as `00:06:47,28`. The part after the comma is
read as a decimal fraction of a second (`,28` = 0.28 s = 280 ms), as the comma is the decimal
separator of the SRT time format MELD's times come from and a writer that drops trailing zeros
produces exactly this; 28 ms would need a writer that drops a leading zero, which no SRT tool
does. Both readings give an end after the row's start, so the data cannot decide.

A malformed row costs that row (recorded as `file:line: expected X, got Y`), never the file; a
repeated (Dialogue_ID, Utterance_ID) keeps its first row and counts the others.
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    csv_rows,
    read_text,
    report_unpaired,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "meld"
LAYOUT = ("{train,dev,test}_sent_emo.csv with train_splits/, dev_splits_complete/, "
          "output_repeated_splits_test/ holding dia{D}_utt{U}.mp4")
CSVS = {"train_sent_emo.csv": "train", "dev_sent_emo.csv": "validation",
        "test_sent_emo.csv": "test"}
CLIP_DIRS = {"train_splits": "train", "dev_splits_complete": "validation",
             "output_repeated_splits_test": "test"}
CLIP_RE = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})$")
COLUMNS = ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
           "Season", "Episode", "StartTime", "EndTime"]


def parse_time(value: str, path: str, line: int) -> float:
    m = TIME_RE.match(value.strip())
    if not m:
        raise LabelFileError(path, line, "a time H:MM:SS,fff", value)
    h, mi, s = (int(g) for g in m.groups()[:3])
    if mi > 59 or s > 59:
        raise LabelFileError(path, line, "minutes and seconds below 60", value)
    return h * 3600 + mi * 60 + s + int(m[4]) / 10 ** len(m[4])  # ,28 -> 0.28 s (see above)


def parse_csv(text: str, path: str, bad: list[LabelFileError]) -> list[dict[str, Any]]:
    """Rows of one *_sent_emo.csv; malformed rows go to `bad` (duplicates too)."""
    return csv_rows(text, path, COLUMNS, bad, _record, "key")


def _record(line: int, row: dict[str, str], path: str) -> dict[str, Any]:
    try:
        dia, utt = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
        season, episode = int(row["Season"]), int(row["Episode"])
    except ValueError:
        raise LabelFileError(path, line, "integer Dialogue_ID, Utterance_ID, Season, Episode",
                             ",".join(row.values())) from None
    if not row["Emotion"].strip() or not row["Sentiment"].strip():
        raise LabelFileError(path, line, "an Emotion and a Sentiment", ",".join(row.values()))
    return {
        "line": line, "key": (dia, utt), "dia": dia, "utt": utt, "season": season,
        "episode": episode, "text": row["Utterance"], "speaker": row["Speaker"].strip(),
        "emotion": row["Emotion"].strip(), "sentiment": row["Sentiment"].strip(),
        "start": parse_time(row["StartTime"], path, line),
        "end": parse_time(row["EndTime"], path, line),
    }


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    csvs: dict[str, str] = {}
    clips: dict[str, str] = {}
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        if name.startswith("._") or name.startswith("final_videos_test"):
            continue
        if name in CSVS:
            csvs[CSVS[name]] = path
            continue
        parent = path.rsplit("/", 2)[-2]
        m = CLIP_RE.match(name)
        if m and parent in CLIP_DIRS:
            clips[f"{CLIP_DIRS[parent]}_dia{int(m[1])}_utt{int(m[2])}"] = path
        elif name.endswith(".mp4"):
            result.problem(CORPUS, path, "UnexpectedFile",
                           f"expected dia{{D}}_utt{{U}}.mp4 inside one of {sorted(CLIP_DIRS)}")
    sentiments = labels.corpus(CORPUS)["sentiment"]["categories"]
    labelled: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    for split, path in sorted(csvs.items()):
        bad: list[LabelFileError] = []
        try:
            parsed = parse_csv(read_text(fs, path), path, bad)
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no row of this file read)")
            continue
        finally:
            result.bad_lines(CORPUS, bad)
        for rec in parsed:
            key = f"{split}_dia{rec['dia']}_utt{rec['utt']}"
            labelled[key] = f"{path}:{rec['line']}"
            records[key] = {**rec, "split": split, "csv": path}
    for key in report_unpaired(result, CORPUS, labelled, clips, "clip"):
        rec = records[key]
        try:
            if rec["sentiment"] not in sentiments:
                raise UnknownLabelError(f"{CORPUS}: unknown sentiment {rec['sentiment']!r}; "
                                        f"valid: {', '.join(sorted(sentiments))}")
            result.rows.append(_row(RowBuilder(CORPUS, labels), key, rec, clips[key],
                                    sentiments))
        except UnknownLabelError as exc:
            result.problem(CORPUS, labelled[key], "UnknownLabel", str(exc))
    return result


def _row(rows: RowBuilder, key: str, rec: dict[str, Any], clip: str,
         sentiments: dict[str, float]) -> Row:
    return rows.row(
        key, audio=clip, video=clip, speaker=rec["speaker"], code=rec["emotion"],
        split=rec["split"], transcript=rec["text"], sentiment=sentiments[rec["sentiment"]],
        sentiment_native=rec["sentiment"],
        meta={"dialogue_id": rec["dia"], "utterance_id": rec["utt"], "season": rec["season"],
              "episode": rec["episode"], "episode_start": rec["start"],
              "episode_end": rec["end"]})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
