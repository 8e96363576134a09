"""SAVEE: AudioData/<DC|JE|JK|KL>/<code><nn>.wav, codes a d f h n sa su (two-letter sa, su).

Four male speakers; the speaker-independent split is DC and JE train, JK validation, KL test.
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from jobs.base import Adapter, ScanResult, basename, label_fields, walk_files
from schemas.labels import LabelSchema

CORPUS = "savee"
LAYOUT = "AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><nn>.wav"
NAME_RE = re.compile(r"^(sa|su|a|d|f|h|n)(\d{2})\.wav$")
SPLITS = {"DC": "train", "JE": "train", "JK": "validation", "KL": "test"}


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    for path in walk_files(fs, root, result, CORPUS):
        name, speaker = basename(path), path.rsplit("/", 2)[-2]
        if not name.endswith(".wav") or name.startswith("._"):
            continue
        m = NAME_RE.match(name)
        if not m or speaker not in SPLITS:
            result.problem(CORPUS, path, "UnexpectedFile", f"expected {LAYOUT}")
            continue
        result.rows.append(_row(speaker, m[1], m[2], path, labels))
    return result


def _row(speaker: str, code: str, number: str, path: str, labels: LabelSchema) -> dict[str, Any]:
    return {
        "utt_id": f"{CORPUS}_{speaker}_{code}{number}",
        "corpus": CORPUS,
        "speaker": f"{CORPUS}_{speaker}",
        "gender": "male",
        "language": "en",
        "split": SPLITS[speaker],
        "_audio_path": path,
        **label_fields(labels, CORPUS, code),
        "meta": {"number": int(number)},
    }


ADAPTER = Adapter(name=CORPUS, title="SAVEE", layout=LAYOUT, scan=scan)
