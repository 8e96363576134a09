"""MER2023: Chinese film and TV clips, one label CSV per part (MERTools' dataset layout).

The release (Lian et al. 2023, ACM MM; zeroQiaoba/MERTools) holds `train-label.csv`,
`test1-label.csv`, `test2-label.csv` and `test3-label.csv` with columns `name`, `discrete`
(neutral, angry, happy, sad, worried, surprise) and `valence` (in [-5, 5]; test3 has none), and
the clips in `train/`, `test1/`, `test2/`, `test3/` as `<name>.avi` or `<name>.mp4` (a label
CSV and its folder may sit anywhere under the root). Each part is its own split: train, test1
(MER-MULTI), test2 (MER-NOISE), test3 (MER-SEMI); no validation split is published. Clips are
audio-visual: the file is both the audio and the video. Speakers are not identified.
"""

from __future__ import annotations

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
    to_float,
    walk_files,
)
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "mer2023"
LAYOUT = ("train-label.csv, test{1,2,3}-label.csv (name, discrete, valence) with train/, "
          "test1-3/ of <name>.avi|.mp4")
PARTS = ("train", "test1", "test2", "test3")
MEDIA = (".avi", ".mp4")


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    tables: dict[str, str] = {}
    clips: dict[tuple[str, str], str] = {}  # (part folder, name) -> path
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        part = name[:-len("-label.csv")] if name.endswith("-label.csv") else None
        if part in PARTS:
            tables[part] = path
        elif name.lower().endswith(MEDIA):
            folder = path.rsplit("/", 2)[-2]
            if folder in PARTS:
                clips.setdefault((folder, stem(path)), path)  # .avi first: sorted walk
    if not tables:
        if clips:
            result.problem(CORPUS, root, "MissingLabelFile",
                           "expected train-label.csv and test1/2/3-label.csv")
        return result
    seen: dict[str, str] = {}
    for part in PARTS:
        if part not in tables:
            continue
        path, bad = tables[part], []
        required = ["name", "discrete"] + ([] if part == "test3" else ["valence"])
        try:
            records = list(csv_records(read_text(fs, path, ("utf-8-sig", "gb18030")), path,
                                       required, bad))
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no label of {part} read)")
            continue
        for line, rec in records:
            where = f"{path}:{line}"
            name = rec["name"].strip()
            media = clips.get((part, name))
            if media is None:
                result.problem(CORPUS, where, "LabelWithoutMedia",
                               f"no {part}/{name}.avi or .mp4")
                continue
            native = safe_id(name)
            if native in seen:
                result.problem(CORPUS, where, "DuplicateRow",
                               f"{name} already at {seen[native]}; the first is kept")
                continue
            try:
                valence = (to_float(rec["valence"], path, line, "a valence in [-5, 5]")
                           if rec.get("valence", "").strip() else None)
                row = rows.row(native, audio=media, video=media, code=rec["discrete"].strip(),
                               vad=(valence, None, None), split=part,
                               meta={"part": part, "source": where})
            except LabelFileError as exc:
                bad.append(exc)
                continue
            except UnknownLabelError as exc:
                result.problem(CORPUS, where, "UnknownLabel", str(exc))
                continue
            seen[native] = where
            result.rows.append(row)
        result.bad_lines(CORPUS, bad)
    return result


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
