"""ESD: speaker folders 0001-0020, each with <Emotion>/<split>/<id>.wav and a transcript.

`0011/Angry/train/0011_000351.wav`; the split folders train/evaluation/test are the official split
(evaluation -> validation). The transcript `00NN/00NN.txt` has `<id>\\t<text>\\t<emotion>` lines;
the Mandarin speakers (0001-0010, language zh) name the emotion in Chinese. The folder gives the
label; a transcript whose emotion disagrees with the folder is reported.
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    label_fields,
    read_text,
    walk_files,
)
from schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "esd"
LAYOUT = "00NN/<Emotion>/{train,evaluation,test}/00NN_NNNNNN.wav with 00NN/00NN.txt"
WAV_RE = re.compile(r"/(\d{4})/([^/]+)/(train|evaluation|test)/(\d{4})_(\d{6})\.wav$")
TRANSCRIPT_RE = re.compile(r"/(\d{4})/(\d{4})\.txt$")
SPLITS = {"train": "train", "evaluation": "validation", "test": "test"}


def parse_transcript(text: str, path: str) -> dict[str, tuple[str, str]]:
    """utt id -> (text, emotion word)."""
    out = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.rstrip("\r\n").split("\t")
        if len(parts) != 3 or not re.fullmatch(r"\d{4}_\d{6}", parts[0].strip()):
            raise LabelFileError(path, n, "<speaker>_<number><TAB>text<TAB>emotion", raw)
        out[parts[0].strip()] = (parts[1].strip(), parts[2].strip())
    return out


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    wavs, transcripts = [], {}
    for path in walk_files(fs, root, result, CORPUS):
        if m := TRANSCRIPT_RE.search(path):
            if m[1] == m[2]:
                transcripts[m[1]] = path
        elif m := WAV_RE.search(path):
            wavs.append((path, m))
        elif path.endswith(".wav"):
            result.problem(CORPUS, path, "UnexpectedFile", f"expected {LAYOUT}")
    texts: dict[str, tuple[str, str]] = {}
    for path in transcripts.values():
        try:
            texts.update(parse_transcript(read_text(fs, path, ("utf-8", "utf-16", "gb18030")),
                                          path))
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", str(exc))
    for path, m in wavs:
        speaker, emotion, split, file_speaker, number = m.groups()
        utt = f"{file_speaker}_{number}"
        if file_speaker != speaker:
            result.problem(CORPUS, path, "UnexpectedFile", f"speaker {file_speaker} in folder "
                                                            f"{speaker}")
            continue
        try:
            row = _row(utt, speaker, emotion, split, path, texts.get(utt), labels)
        except UnknownLabelError as exc:
            result.problem(CORPUS, path, "UnknownLabel", str(exc))
            continue
        said = texts.get(utt, (None, None))[1]
        entry = labels.corpus(CORPUS)["labels"].get(said) if said else None
        if said and (entry is None or entry.get("canonical") != row["label"]):
            result.problem(CORPUS, path, "LabelMismatch", f"{utt}: folder {emotion} but the "
                           f"transcript says {said!r}; the folder is used")
        result.rows.append(row)
    return result


def _row(utt: str, speaker: str, emotion: str, split: str, path: str,
         text: tuple[str, str] | None, labels: LabelSchema) -> dict[str, Any]:
    return {
        "utt_id": f"{CORPUS}_{utt}",
        "corpus": CORPUS,
        "speaker": f"{CORPUS}_{speaker}",
        "language": "zh" if int(speaker) <= 10 else "en",
        "split": SPLITS[split],
        "_audio_path": path,
        "transcript": text[0] if text else None,
        **label_fields(labels, CORPUS, emotion),
        "meta": {"transcript_emotion": text[1] if text else None},
    }


ADAPTER = Adapter(name=CORPUS, title="ESD", layout=LAYOUT, scan=scan)
