"""MSP-Podcast: `MSP-PODCAST_<podcast>_<segment>.wav` with a consensus label table.

Every public release naming is read (public loaders of releases 1.6 to 2.0 agree on these):
- label table `labels_consensus.csv` (1.10 and later) or `labels_concensus.csv` (sic; 1.6-1.9),
  in `Labels/` (or `labels/`, `label/` in 1.9 and 1.6);
- audio in `Audios/` (or `Audio/` in older copies);
- Split_Set `Train`, `Development` (`Validation` before 1.10), `Test1`, `Test2`, `Test3`.
`Previous_releases_information/` (older label tables shipped inside newer releases) is not
read: it describes other releases.

Columns FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set. Note the order of
the dimensional columns: arousal (EmoAct), valence, dominance, each on 1-7. EmoClass X (no
agreement) has a null label with status no_agreement; O is the class "other". SpkrID "Unknown"
is a null speaker. Transcripts/<name>.txt are read when present.

Per-annotator ratings, `labels_detailed.csv` beside the consensus table, in either published
form: one row per rating with WorkerID (Workers in 1.6), EmoClass_Major, EmoClass_Second,
EmoAct, EmoVal, EmoDom (1.6, 2.0); or FileName, EmoDetail with
`WORKER00001; Angry; Angry,Frustrated; A:4.0; V:2.0; D:5.0;` (1.10-1.12). Each utterance's
`soft_label` is the distribution of its raters' primary (EmoClass_Major) votes; every rating is
a row of the dataset's `ratings.parquet` (schemas.RATINGS_SCHEMA). A malformed line costs
that line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.jobs.agreement import soft_label
from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    csv_records,
    csv_rows,
    read_text,
    report_unpaired,
    stem,
    to_float,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "msp_podcast"
LAYOUT = ("Audios/MSP-PODCAST_0001_0008.wav with Labels/labels_consensus.csv "
          "(or Audio/ with labels_concensus.csv in releases before 1.10)")
COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")  # preferred first
AUDIO_DIRS = ("Audios", "Audio")
SPLITS = {"Train": "train", "Development": "validation", "Validation": "validation",
          "Test1": "test1", "Test2": "test2", "Test3": "test3"}
OLD_RELEASES = "Previous_releases_information"
# The release number, where the root's name carries it (MSP-PODCAST-Publish-1.11, MSP-Podcast-2.0)
RELEASE_RE = re.compile(r"MSP[-_]?PODCAST[-_](?:Publish[-_])?v?(\d+\.\d+)", re.IGNORECASE)
DETAIL_RE = re.compile(
    r"^\s*(?P<rater>[^;]+);\s*(?P<major>[^;]*);\s*(?P<second>[^;]*);\s*A:\s*(?P<act>[^;]+);"
    r"\s*V:\s*(?P<val>[^;]+);\s*D:\s*(?P<dom>[^;]+);?\s*$")


def parse_consensus(text: str, path: str, bad: list[LabelFileError]) -> list[dict[str, Any]]:
    return csv_rows(text, path, COLUMNS, bad, _consensus_row, "FileName")


def _consensus_row(line: int, row: dict[str, str], path: str) -> dict[str, Any]:
    dims = {col: _rating(row[col], path, line, col) for col in ("EmoAct", "EmoVal", "EmoDom")}
    split = row["Split_Set"].strip()
    if split not in SPLITS:
        raise LabelFileError(path, line, f"Split_Set one of {', '.join(SPLITS)}", split)
    name = row["FileName"].strip()
    if not name.endswith(".wav"):
        raise LabelFileError(path, line, "FileName ending in .wav", name)
    return {**row, "line": line, "FileName": name, "Split_Set": split, **dims}


def _rating(value: str, path: str, line: int, col: str) -> float:
    out = to_float(value.strip(), path, line, f"{col} in [1, 7]")
    if not 1 <= out <= 7:
        raise LabelFileError(path, line, f"{col} in [1, 7]", value)
    return out


def parse_detailed(text: str, path: str, bad: list[LabelFileError]
                   ) -> dict[str, list[dict[str, Any]]]:
    """FileName -> ratings [{rater, primary, secondary, arousal, valence, dominance}]."""
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    header = [h.strip().strip('"') for h in first.split(",")]
    rater_col = next((c for c in ("WorkerID", "Workers", "Worker") if c in header), None)
    if "EmoDetail" in header:
        required = ["FileName", "EmoDetail"]
    elif rater_col:
        required = ["FileName", rater_col, "EmoClass_Major", "EmoAct", "EmoVal", "EmoDom"]
    else:
        raise LabelFileError(path, 1, "a header with FileName and EmoDetail, or FileName, "
                             "WorkerID, EmoClass_Major, EmoAct, EmoVal, EmoDom", ",".join(header))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line, row in _detail_rows(text, path, required, bad):
        try:
            if "EmoDetail" in row:
                m = DETAIL_RE.match(row["EmoDetail"])
                if not m:
                    raise LabelFileError(path, line, "EmoDetail 'WORKER; Major; Second; A:n; "
                                         "V:n; D:n;'", row["EmoDetail"])
                fields = m.groupdict()
            else:
                fields = {"rater": row[rater_col], "major": row["EmoClass_Major"],  # type: ignore[index]
                          "second": row.get("EmoClass_Second", ""), "act": row["EmoAct"],
                          "val": row["EmoVal"], "dom": row["EmoDom"]}
            out[row["FileName"].strip()].append({
                "source": f"{path}:{line}",
                "rater": fields["rater"].strip(), "primary": fields["major"].strip() or None,
                "secondary": [s.strip() for s in fields["second"].split(",") if s.strip()],
                "arousal": _rating(fields["act"], path, line, "EmoAct"),
                "valence": _rating(fields["val"], path, line, "EmoVal"),
                "dominance": _rating(fields["dom"], path, line, "EmoDom")})
        except LabelFileError as exc:
            bad.append(exc)
    return dict(out)


def _detail_rows(text: str, path: str, required: list[str], bad: list[LabelFileError]
                 ) -> Iterator[tuple[int, dict[str, str]]]:
    """CSV rows; in the two-column EmoDetail form an unquoted detail (its secondary emotions
    hold commas) is the rest of the line after FileName."""
    if required != ["FileName", "EmoDetail"]:
        yield from csv_records(text, path, required, bad)
        return
    for n, raw in enumerate(text.split("\n")[1:], start=2):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        name, sep, detail = line.partition(",")
        if not sep:
            bad.append(LabelFileError(path, n, "FileName,EmoDetail", line))
            continue
        yield n, {"FileName": name.strip().strip('"'), "EmoDetail": detail.strip().strip('"')}


def _find(fs: AbstractFileSystem, root: str, result: ScanResult
          ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    audio: dict[str, str] = {}
    transcripts: dict[str, str] = {}
    tables: dict[str, str] = {}
    for path in walk_files(fs, root, result, CORPUS):
        if f"/{OLD_RELEASES}/" in path:
            continue
        name, parent = basename(path), path.rsplit("/", 2)[-2]
        if name in LABEL_FILES or name == "labels_detailed.csv":
            tables.setdefault(name, path)
        elif parent in AUDIO_DIRS and name.endswith(".wav") and not name.startswith("._"):
            if name in audio:
                result.problem(CORPUS, path, "DuplicateFile", f"same file as {audio[name]}")
                continue
            audio[name] = path
        elif parent == "Transcripts" and name.endswith(".txt"):
            transcripts[stem(path)] = path
    return audio, transcripts, tables


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    if m := RELEASE_RE.search(root):
        result.release = m[1]
    audio, transcripts, tables = _find(fs, root, result)
    consensus = next((tables[n] for n in LABEL_FILES if n in tables), None)
    if consensus is None:
        if audio:
            result.problem(CORPUS, root, "MissingLabelFile", "expected Labels/labels_consensus"
                           ".csv (or labels_concensus.csv); no utterance can be labelled")
        return result
    bad: list[LabelFileError] = []
    try:
        parsed = parse_consensus(read_text(fs, consensus), consensus, bad)
    except LabelFileError as exc:
        result.problem(CORPUS, consensus, "LabelFileError", f"{exc} (no row of this file read)")
        return result
    finally:
        result.bad_lines(CORPUS, bad)
    records = {r["FileName"]: r for r in parsed}
    ratings = _ratings(fs, tables.get("labels_detailed.csv"), result)
    labelled = {k: f"{consensus}:{r['line']}" for k, r in records.items()}
    for name in report_unpaired(result, CORPUS, labelled, audio, "audio file"):
        try:
            row = _row(RowBuilder(CORPUS, labels), records[name], audio[name],
                       ratings.get(name))
        except UnknownLabelError as exc:
            result.problem(CORPUS, labelled[name], "UnknownLabel", str(exc))
            continue
        if stem(name) in transcripts:
            row.transcript = read_text(fs, transcripts[stem(name)]).strip()
        result.rows.append(row)
        result.ratings += [{"utt_id": row.utt_id, "corpus": CORPUS, "presentation": "audio",
                            **r} for r in ratings.get(name, [])]
    return result


def _ratings(fs: AbstractFileSystem, path: str | None, result: ScanResult
             ) -> dict[str, list[dict[str, Any]]]:
    if path is None:
        return {}
    bad: list[LabelFileError] = []
    try:
        return parse_detailed(read_text(fs, path), path, bad)
    except LabelFileError as exc:
        result.problem(CORPUS, path, "LabelFileError", f"{exc} (no rating of this file read)")
        return {}
    finally:
        result.bad_lines(CORPUS, bad)


def _soft(ratings: list[dict[str, Any]] | None, labels: LabelSchema) -> list[dict] | None:
    weights: dict[str, float] = {}
    for r in ratings or []:
        if not r["primary"]:
            continue
        try:
            mapped = labels.map_label(CORPUS, r["primary"] or "", table="votes")
        except UnknownLabelError:
            mapped = labels.map_label(CORPUS, "Other", table="votes")  # free-text "Other-..."
        if mapped.canonical:
            weights[mapped.canonical] = weights.get(mapped.canonical, 0.0) + 1.0
    return soft_label(weights, labels)


def _row(rows: RowBuilder, rec: dict[str, Any], path: str,
         ratings: list[dict[str, Any]] | None) -> Row:
    speaker = rec["SpkrID"].strip()
    gender = rec["Gender"].strip().lower()
    return rows.row(
        stem(path), audio=path,
        speaker=None if speaker.lower() in ("unknown", "") else speaker,
        code=rec["EmoClass"].strip(),
        # labels_consensus.csv orders the dimensions arousal, valence, dominance.
        vad=(rec["EmoVal"], rec["EmoAct"], rec["EmoDom"]),
        gender=gender if gender in ("female", "male") else None,
        split=SPLITS[rec["Split_Set"]], soft_label=_soft(ratings, rows.labels),
        meta={"split_set": rec["Split_Set"], "raters": len(ratings or [])})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
