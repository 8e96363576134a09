"""IEMOCAP: Session1-5 with dialog/EmoEvaluation, dialog/transcriptions, sentences/wav, dialog/avi.

One utterance per EmoEvaluation summary line
`[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`:
consensus code, [valence, activation, dominance] on 1-5, and the turn's span in the dialog.
Audio is the sentence WAV; video is the dialog AVI cut to the span (both actors side by side).
Soft labels are the external evaluators' categorical votes (`C-E*` lines; each evaluator's vote
split evenly over the labels they list); the actors' self-assessments (`C-F*`, `C-M*`) are kept in
`meta` only. Every evaluator's categories and dimensional ratings (`A-*` lines, `val N; act N;
dom N;`) are rows of the dataset's `ratings.parquet`. The speaker is the session plus the
gender letter of the speaking actor (the fourth character from the end of the utterance id),
not the `Ses01F` prefix.

Split: leave-one-session-out is the convention, so `fold` is the session number; the default
`split` is sessions 1-3 train, 4 validation, 5 test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.jobs.agreement import soft_label
from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    read_text,
    report_unpaired,
    to_float,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "iemocap"
SIDES = {"F": "left", "M": "right"}  # where each actor sits in the session's dialog video
LAYOUT = ("Session1-5/dialog/EmoEvaluation/*.txt and Session1-5/sentences/wav/<dialog>/<utt>.wav"
          " (optional dialog/transcriptions, dialog/avi/DivX)")
SUMMARY_RE = re.compile(
    r"^\[\s*(\S+)\s*-\s*(\S+)\s*\]\s+(Ses\d\d[FM]_\S+_[FM]\w*)\s+(\S+)\s+"
    r"\[\s*(\S+?),\s*(\S+?),\s*(\S+?)\s*\]\s*$"
)
VOTE_RE = re.compile(r"^C-([A-Z]+\d*):\s*(.*?)\s*\((.*)\)\s*$")
# "A-E3:<TAB>val 3; act 2; dom  2;<TAB>()": one evaluator's dimensional ratings (1-5)
DIMS_RE = re.compile(r"^A-([A-Z]+\d*):\s*val\s*([^;]*);\s*act\s*([^;]*);\s*dom\s*([^;]*);")
TRANSCRIPT_RE = re.compile(r"^(Ses\d\d[FM]_\S+) \[(\d+\.\d+)-(\d+\.\d+)\]:\s?(.*)$")
PATHS = {
    "eval": re.compile(r"/Session(\d)/dialog/EmoEvaluation/([^/]+)\.txt$"),
    "transcript": re.compile(r"/Session(\d)/dialog/transcriptions/([^/]+)\.txt$"),
    "wav": re.compile(r"/Session(\d)/sentences/wav/([^/]+)/([^/]+)\.wav$"),
    "avi": re.compile(r"/Session(\d)/dialog/avi/DivX/([^/]+)\.avi$"),
}


@dataclass
class Turn:
    utt_id: str
    start: float
    end: float
    code: str
    vad: tuple[float | None, float | None, float | None]
    line: int
    votes: dict[str, list[str]] = field(default_factory=dict)  # evaluator -> labels
    # evaluator -> (valence, arousal, dominance) from A- lines; where each rating came from
    dims: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def parse_evaluation(text: str, path: str, vote_names: set[str],
                     bad: list[LabelFileError]) -> list[Turn]:
    """Parse one EmoEvaluation file. A malformed line costs only what it carries: a bad summary
    line its turn (and the vote lines under it), an unknown vote label that vote, an
    out-of-range rating that dimension (null). Every such line is appended to `bad`."""
    turns: list[Turn] = []
    current: Turn | None = None  # the turn vote lines belong to; None after a bad summary
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        try:
            if line.startswith("["):
                current = None
                turn = _summary(line, path, n, bad)
                if turn.utt_id in seen:
                    raise LabelFileError(path, n, f"one summary line per turn (first at line "
                                         f"{seen[turn.utt_id]} is kept)", turn.utt_id,
                                         error_type="DuplicateRow")
                seen[turn.utt_id] = n
                turns.append(turn)
                current = turn
            elif line.startswith("C-"):
                m = VOTE_RE.match(line)
                if not m:
                    raise LabelFileError(path, n, "C-<evaluator>:<TAB>Label; ...<TAB>(note)", line)
                if current is None:
                    continue  # its turn was refused (already counted) or none came yet
                names = [v.strip() for v in m.group(2).split(";") if v.strip()]
                for v in names:
                    if v not in vote_names:
                        bad.append(LabelFileError(path, n, "labels among "
                                                  f"{', '.join(sorted(vote_names))}", v,
                                                  error_type="UnknownLabel"))
                known = [v for v in names if v in vote_names]
                if known:
                    current.votes[m.group(1)] = known
                    current.lines.setdefault(m.group(1), n)
            elif line.startswith("A-"):
                m = DIMS_RE.match(line)
                if not m:
                    raise LabelFileError(path, n, "A-<evaluator>:<TAB>val N; act N; dom N;", line)
                if current is not None:
                    current.dims[m.group(1)] = tuple(_rating(v, path, n, bad)
                                                     for v in m.group(2, 3, 4))
                    current.lines.setdefault(m.group(1), n)
            else:
                raise LabelFileError(path, n, "a summary line, C-<evaluator> or A-<evaluator> "
                                     "line", line)
        except LabelFileError as exc:
            bad.append(exc)
    return turns


def _rating(value: str, path: str, n: int, bad: list[LabelFileError]) -> float | None:
    """One evaluator's 1-5 rating; a bad or missing one is null (and counted when not blank)."""
    if not value.strip():
        return None
    try:
        out = to_float(value.strip(), path, n, "a rating 1-5")
        if 1 <= out <= 5:
            return out
        raise LabelFileError(path, n, "a rating 1-5 (kept as null)", value)
    except LabelFileError as exc:
        bad.append(exc)
        return None


def ratings(turn: Turn, utt_id: str, path: str) -> list[dict[str, Any]]:
    """One row per evaluator of a turn: the categories they chose (first = primary) and their
    valence/activation/dominance. `E*` are external evaluators; `F*`/`M*` the actors'
    self-assessments. Evaluators saw the audio-visual recording."""
    out = []
    for rater in sorted(set(turn.votes) | set(turn.dims)):
        names = turn.votes.get(rater, [])
        v, a, d = turn.dims.get(rater, (None, None, None))
        out.append({"utt_id": utt_id, "corpus": CORPUS, "rater": rater,
                    "presentation": "audiovisual", "primary": names[0] if names else None,
                    "secondary": names[1:], "valence": v, "arousal": a, "dominance": d,
                    "source": f"{path}:{turn.lines[rater]}"})
    return out


def _summary(line: str, path: str, n: int, bad: list[LabelFileError]) -> Turn:
    m = SUMMARY_RE.match(line)
    if not m:
        raise LabelFileError(path, n, "[START - END] TURN CODE [V, A, D]", line)
    start, end = (to_float(v, path, n, "a time in seconds") for v in m.group(1, 2))
    if not 0 <= start <= end:
        raise LabelFileError(path, n, "0 <= start <= end", line)
    vad: list[float | None] = []
    for dim, v in zip(("V", "A", "D"), m.group(5, 6, 7), strict=True):
        try:
            value: float | None = to_float(v, path, n, f"{dim} a rating 1-5")
            if not 1 <= value <= 5:  # type: ignore[operator]
                raise LabelFileError(path, n, f"{dim} a rating 1-5 (kept as null)", v)
        except LabelFileError as exc:
            bad.append(exc)
            value = None
        vad.append(value)
    return Turn(m.group(3), start, end, m.group(4), tuple(vad), n)  # type: ignore[arg-type]


def parse_transcription(text: str) -> dict[str, str]:
    """utt_id -> text; lines of other shapes (noises, comments) carry no utterance."""
    out = {}
    for raw in text.splitlines():
        m = TRANSCRIPT_RE.match(raw.strip())
        if m:
            out[m.group(1)] = m.group(4).strip()
    return out


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    found: dict[str, dict[str, str]] = {k: {} for k in PATHS}
    for path in walk_files(fs, root, result, CORPUS):
        if path.rsplit("/", 1)[-1].startswith("._"):
            continue  # macOS resource forks shipped inside some archives
        for kind, pattern in PATHS.items():
            m = pattern.search(path)
            if m:
                found[kind][m.groups()[-1]] = path
                break
    if not found["eval"]:
        return result
    vote_names = set(labels.corpus(CORPUS)["votes"])
    turns: dict[str, Turn] = {}
    where: dict[str, str] = {}
    for path in found["eval"].values():
        bad: list[LabelFileError] = []
        try:
            for turn in parse_evaluation(read_text(fs, path), path, vote_names, bad):
                if turn.utt_id in turns:
                    result.problem(CORPUS, f"{path}:{turn.line}", "DuplicateRow",
                                   f"{turn.utt_id} also at {where[turn.utt_id]}; first kept")
                    continue
                turns[turn.utt_id] = turn
                where[turn.utt_id] = f"{path}:{turn.line}"
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no turn of this file read)")
        result.bad_lines(CORPUS, bad)
    texts: dict[str, str] = {}
    for path in found["transcript"].values():
        try:
            texts.update(parse_transcription(read_text(fs, path, ("utf-8", "cp1252"))))
        except LabelFileError as exc:  # a transcript costs text only, never the turns
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no text of this file read)")
    for utt in report_unpaired(result, CORPUS, where, found["wav"], "sentence WAV"):
        turn = turns[utt]
        try:
            result.rows.append(_row(rows, turn, found, texts.get(utt)))
        except UnknownLabelError as exc:
            result.problem(CORPUS, where[utt], "UnknownLabel", str(exc))
            continue
        result.ratings += ratings(turn, rows.utt_id(utt), where[utt].rsplit(":", 1)[0])
    return result


def _row(rows: RowBuilder, turn: Turn, found: dict[str, dict[str, str]], text: str | None
         ) -> Row:
    labels = rows.labels
    utt = turn.utt_id
    session = int(utt[3:5])
    dialog = utt.rsplit("_", 1)[0]
    gender = {"F": "female", "M": "male"}[utt[-4]]
    weights: dict[str, float] = {}
    for evaluator, names in turn.votes.items():
        if evaluator.startswith("E"):
            for name in names:
                canonical = labels.map_label(CORPUS, name, table="votes").canonical
                weights[canonical] = weights.get(canonical, 0.0) + 1.0 / len(names)
    video = found["avi"].get(dialog)
    return rows.row(
        utt, audio=found["wav"][utt], video=video, speaker=f"{session:02d}{utt[-4]}",
        code=turn.code, vad=turn.vad, gender=gender,
        split="train" if session <= 3 else "validation" if session == 4 else "test",
        fold=session, video_start=turn.start if video else None,
        video_end=turn.end if video else None,
        # The dialog video shows both actors side by side: the speaker's half of the frame
        video_region=SIDES[utt[-4]] if video else None,
        transcript=text, soft_label=soft_label(weights, labels),
        meta={"dialog": dialog, "improvised": "_impro" in utt, "session": session,
              "dialog_start": turn.start, "dialog_end": turn.end, "votes": turn.votes})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
