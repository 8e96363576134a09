"""TESS: <SPEAKER>_<emotion>/<SPEAKER>_<word>_<emotion>.wav, speakers OAF and YAF.

The file name, not the folder, gives the label (folder spellings vary); "pleasant surprise" is
spelled ps, pleasant_surprise or pleasant_surprised. The transcript is the carrier phrase
"Say the word <word>". Two speakers only, so the speaker-independent split is OAF train,
YAF test (no validation speaker exists).
"""

from __future__ import annotations

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import Adapter, ScanResult, basename, stem, walk_files
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema

CORPUS = "tess"
LAYOUT = "OAF_angry/OAF_back_angry.wav (speaker OAF or YAF, word, emotion)"
SPLITS = {"OAF": "train", "YAF": "test"}


def parse_name(name: str, codes: set[str]) -> tuple[str, str, str]:
    """(speaker, word, emotion code) of a TESS file stem; ValueError says what was expected."""
    parts = name.split("_")
    speaker = parts[0].upper()
    if speaker not in SPLITS or len(parts) < 3:
        raise ValueError(f"expected <OAF|YAF>_<word>_<emotion>, got {name!r}")
    for k in (2, 1):  # two-token emotions first: pleasant_surprised
        emotion = "_".join(parts[-k:]).lower()
        if emotion in codes and len(parts) - k >= 2:
            return speaker, "_".join(parts[1:-k]), emotion
    raise ValueError(f"{name!r}: unknown emotion {parts[-1]!r}; valid: {', '.join(sorted(codes))}")


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    codes = set(labels.corpus(CORPUS)["labels"])
    for path in walk_files(fs, root, result, CORPUS):
        if not basename(path).lower().endswith(".wav"):
            continue
        try:
            speaker, word, emotion = parse_name(stem(path), codes)
        except ValueError as exc:
            result.problem(CORPUS, path, "UnexpectedFile", str(exc))
            continue
        result.rows.append(rows.row(stem(path), audio=path, speaker=speaker, code=emotion,
                                    gender="female", split=SPLITS[speaker],
                                    transcript=f"Say the word {word}", meta={"word": word}))
    return result


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
