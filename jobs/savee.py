"""SAVEE: four male speakers, codes a d f h n sa su (two-letter sa, su) and a 2-digit number.

Two layouts are in circulation and both are read:
- the publisher's `AudioData/<DC|JE|JK|KL>/<code><nn>.wav`;
- the flat layout most copies circulate as (Kaggle's "ALL" folder, EmoBox's list):
  `<DC|JE|JK|KL>_<code><nn>.wav`, e.g. `JE_n23.wav`.
Each speaker has 120 utterances: neutral 30, the six other emotions 15 each (480 in all).
The speaker-independent split is DC and JE train, JK validation, KL test.
"""

from __future__ import annotations

import re

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import Adapter, ScanResult, basename, walk_files
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema

CORPUS = "savee"
LAYOUT = ("AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><nn>.wav or flat "
          "<DC|JE|JK|KL>_<a|d|f|h|n|sa|su><nn>.wav")
NESTED_RE = re.compile(r"^(sa|su|a|d|f|h|n)(\d{2})\.(?i:wav)$")
FLAT_RE = re.compile(r"^(DC|JE|JK|KL)_(sa|su|a|d|f|h|n)(\d{2})\.(?i:wav)$")
SPLITS = {"DC": "train", "JE": "train", "JK": "validation", "KL": "test"}


def parse_path(path: str) -> tuple[str, str, str] | None:
    """(speaker, code, number) of either layout, or None."""
    name, parent = basename(path), path.rsplit("/", 2)[-2] if "/" in path else ""
    if m := FLAT_RE.match(name):
        return m[1], m[2], m[3]
    if (m := NESTED_RE.match(name)) and parent in SPLITS:
        return parent, m[1], m[2]
    return None


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    seen: dict[str, str] = {}
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        if not name.lower().endswith(".wav") or name.startswith("._"):
            continue
        parsed = parse_path(path)
        if parsed is None:
            result.problem(CORPUS, path, "UnexpectedFile", f"expected {LAYOUT}")
            continue
        speaker, code, number = parsed
        key = f"{speaker}_{code}{number}"
        if key in seen:  # both layouts unpacked side by side
            result.problem(CORPUS, path, "DuplicateFile", f"same utterance as {seen[key]}")
            continue
        seen[key] = path
        result.rows.append(rows.row(f"{speaker}_{code}{number}", audio=path, speaker=speaker,
                                    code=code, gender="male", split=SPLITS[speaker],
                                    meta={"number": int(number)}))
    return result


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
