"""CMU-MOSEI: segments inside full YouTube videos, labels in CMU_MOSEI_Labels.csd (HDF5).

The computational sequence holds, per video, `intervals` (n x 2 seconds) and `features` (n x 7:
sentiment in [-3, 3], then happiness, sadness, anger, surprise, disgust and fear intensities in
[0, 3]). Each interval is one utterance, cut from
`Raw/Audio/Full/WAV_16000/<video>.wav` and `Videos/Full/Combined/<video>.mp4` (found by name
anywhere under the root). Negative interval starts are clamped to 0 (the native start is kept).

Segment ids: the corpus numbers its segments in `Transcript/Segmented/Combined/<video>.txt`
(`<video>___<N>___<start>___<end>___<text>`), the names of its segmented media
(`<video>_<N>.wav`) and the ids MMSA/MERBench use (`<video>_<N>`); the label file numbers only
the labelled ones. An interval whose times match a transcript segment is `mosei_<video>_<N>`;
when a video's transcript is absent (or a time matches none) its utterances are numbered by
label row, `mosei_<video>_r<i>`, so the two can never collide. `meta.sdk_id` is always the id
the SDK's `align` gives the segment, `<video>[<i>]` (i: row of the label file).

Labels: sentiment / 3 -> `sentiment`; the intensities normalised -> `soft_label` (several
emotions can be present). `label` is the single strongest emotion; an all-zero row has no
emotion (status unlabeled, never "happy"), and a tie for the strongest has none either
(status no_agreement). Raw intensities are in `meta.intensities`.

Split: the SDK's standard folds (`cmu_mosei_std_folds.py` of CMU-MultimodalSDK, read without
executing it from the root or from an installed `mmsdk`); videos in no fold, or all videos when
the folds file is absent (recorded as a problem), have a null split.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    read_text,
    soft_label,
    stem,
    to_float,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema

CORPUS = "mosei"
LAYOUT = ("CMU_MOSEI_Labels.csd with Raw/Audio/Full/WAV_16000/<video>.wav "
          "(optional Videos/Full/Combined/<video>.mp4, Transcript/Segmented/Combined/<video>.txt)")
EMOTIONS = ["happiness", "sadness", "anger", "surprise", "disgust", "fear"]
FOLDS = {"standard_train_fold": "train", "standard_valid_fold": "validation",
         "standard_test_fold": "test"}
FOLDS_FILE = "cmu_mosei_std_folds.py"
TRANSCRIPT_RE = re.compile(r"^(.+?)___(\d+)___(-?[\d.]+)___(-?[\d.]+)___(.*)$")


def parse_labels(fileobj: Any, path: str, bad: list[LabelFileError] | None = None
                 ) -> dict[str, list[tuple[float, float, np.ndarray]]]:
    """video id -> [(start, end, features[7])] from a computational-sequence HDF5 file.

    A malformed video entry costs that video: it goes to `bad` (raised when `bad` is None).
    """
    import h5py

    try:
        h5 = h5py.File(fileobj, "r")
    except OSError as exc:
        raise LabelFileError(path, "file", "an HDF5 computational sequence", str(exc)) from None
    with h5:
        roots = list(h5.keys())
        if not roots or "data" not in h5[roots[0]]:
            raise LabelFileError(path, "/", "one root group with a 'data' group", str(roots))
        out = {}
        for vid, group in h5[roots[0]]["data"].items():
            try:
                out[vid] = _video_labels(h5py, vid, group, path)
            except LabelFileError as exc:
                if bad is None:
                    raise
                bad.append(exc)
    return out


def _video_labels(h5py: Any, vid: str, group: Any, path: str
                  ) -> list[tuple[float, float, np.ndarray]]:
    where = f"data/{vid}"
    if not isinstance(group, h5py.Group) or not {"features", "intervals"} <= set(group):
        raise LabelFileError(path, where, "'features' and 'intervals'", str(list(group)))
    try:
        feats, ivals = np.asarray(group["features"]), np.asarray(group["intervals"])
    except (OSError, TypeError, ValueError) as exc:
        raise LabelFileError(path, where, "readable arrays", str(exc)) from None
    if feats.ndim != 2 or feats.shape[1] != 7 or ivals.shape != (len(feats), 2):
        raise LabelFileError(path, where, "features n x 7 and intervals n x 2",
                             f"{feats.shape} and {ivals.shape}")
    if not (np.isfinite(feats).all() and np.isfinite(ivals).all()):
        raise LabelFileError(path, where, "finite numbers", "NaN or inf")
    return [(float(s), float(e), f) for (s, e), f in zip(ivals, feats, strict=True)]


def parse_transcript(text: str, path: str, bad: list[LabelFileError]
                     ) -> list[tuple[int, float, float, str]]:
    """(segment number, start, end, text) per line; malformed lines go to `bad`."""
    out = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            m = TRANSCRIPT_RE.match(raw.strip())
            if not m:
                raise LabelFileError(path, n, "video___index___start___end___text", raw)
            start, end = (to_float(v, path, n, "a time in seconds") for v in (m[3], m[4]))
        except LabelFileError as exc:
            bad.append(exc)
            continue
        out.append((int(m[2]), start, end, m[5].strip()))
    return out


def segment_numbers(segs: list[tuple[float, float, Any]],
                    texts: list[tuple[int, float, float, str]], tol: float = 0.05
                    ) -> list[tuple[int, str | None]] | None:
    """The transcript's (segment number, text) of each labelled interval, matched by time;
    None unless every interval matches a distinct segment."""
    out, used = [], set()
    for start, end, _ in segs:
        best = min(texts, key=lambda t: abs(t[1] - start) + abs(t[2] - end), default=None)
        if best is None or abs(best[1] - start) > tol or abs(best[2] - end) > tol or \
                best[0] in used:
            return None
        used.add(best[0])
        out.append((best[0], best[3]))
    return out


def parse_folds(source: str, path: str) -> dict[str, str]:
    """video id -> split from the SDK's folds module, by reading its list literals."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise LabelFileError(path, exc.lineno or 1, "Python list assignments", str(exc)) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise LabelFileError(path, 1, "Python list assignments", str(exc)) from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], "id", None)
            if name in FOLDS:
                try:
                    ids = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                    ids = None
                if not isinstance(ids, list | tuple):
                    raise LabelFileError(path, node.lineno, "a list of video ids",
                                         ast.unparse(node.value)[:60])
                out.update({str(v): FOLDS[name] for v in ids})
    return out


def _installed_folds() -> Path | None:
    spec = importlib.util.find_spec("mmsdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    path = base / "mmdatasdk/dataset/standard_datasets/CMU_MOSEI" / FOLDS_FILE
    return path if path.is_file() else None


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    audio, video, transcripts = {}, {}, {}
    labels_path = folds_path = None
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        if name == "CMU_MOSEI_Labels.csd":
            labels_path = path
        elif name == FOLDS_FILE:
            folds_path = path
        elif name.endswith(".wav") and "/WAV_16000/" in path:
            audio[stem(path)] = path
        elif name.endswith(".mp4") and "/Full/" in path:
            video[stem(path)] = path
        elif name.endswith(".txt") and "/Segmented/" in path:
            transcripts[stem(path)] = path
    if labels_path is None:
        if audio:
            result.problem(CORPUS, root, "MissingLabelFile", "expected CMU_MOSEI_Labels.csd")
        return result
    bad: list[LabelFileError] = []
    try:
        with fs.open(labels_path, "rb") as fh:
            segments = parse_labels(fh, labels_path, bad)
    except LabelFileError as exc:
        result.problem(CORPUS, labels_path, "LabelFileError", f"{exc} (no label read)")
        return result
    finally:
        result.bad_lines(CORPUS, bad)
    try:
        folds = _folds(fs, folds_path, result)
    except LabelFileError as exc:  # costs the splits, never the labels
        result.problem(CORPUS, exc.path, "LabelFileError", f"{exc}; every split is null")
        folds = {}
    for vid in sorted(set(audio) - set(segments)):
        result.problem(CORPUS, audio[vid], "MediaWithoutLabel", f"{vid}: no labels in the .csd")
    for vid, segs in sorted(segments.items()):
        if vid not in audio:
            result.problem(CORPUS, f"{labels_path}:data/{vid}", "LabelWithoutMedia",
                           f"{vid}: {len(segs)} labelled segment(s) but no WAV_16000/{vid}.wav")
            continue
        numbers = segment_numbers(segs, _transcripts(fs, transcripts.get(vid), result))
        for i, (start, end, feats) in enumerate(segs):
            number, text = numbers[i] if numbers else (None, None)
            result.rows.append(_row(RowBuilder(CORPUS, labels), vid, i, number, start, end,
                                    feats, audio[vid], video.get(vid), folds.get(vid), text))
    return result


def _folds(fs: AbstractFileSystem, path: str | None, result: ScanResult) -> dict[str, str]:
    if path is not None:
        return parse_folds(read_text(fs, path), path)
    installed = _installed_folds()
    if installed is not None:
        return parse_folds(installed.read_text(), str(installed))
    result.problem(CORPUS, FOLDS_FILE, "MissingFolds",
                   f"standard folds not found: put the SDK's {FOLDS_FILE} in the root or install "
                   "CMU-MultimodalSDK; every split is null")
    return {}


def _transcripts(fs: AbstractFileSystem, path: str | None,
                 result: ScanResult) -> list[tuple[int, float, float, str]]:
    if path is None:
        return []
    bad: list[LabelFileError] = []
    try:
        return parse_transcript(read_text(fs, path, ("utf-8", "cp1252")), path, bad)
    except LabelFileError as exc:
        result.problem(CORPUS, path, "LabelFileError", f"{exc} (no text of this file read)")
        return []
    finally:
        result.bad_lines(CORPUS, bad)


def _row(rows: RowBuilder, vid: str, i: int, number: int | None, start: float, end: float,
         feats: np.ndarray, wav: str, mp4: str | None, split: str | None, text: str | None
         ) -> Row:
    labels = rows.labels
    sentiment, intensities = float(feats[0]), [float(v) for v in feats[1:]]
    canonical = {e: labels.map_label(CORPUS, e).canonical for e in EMOTIONS}
    weights = {canonical[e]: v for e, v in zip(EMOTIONS, intensities, strict=True) if v > 0}
    top = max(intensities)
    winners = [e for e, v in zip(EMOTIONS, intensities, strict=True) if v == top]
    if top <= 0:
        code, status = None, "unlabeled"
    elif len(winners) > 1:
        code, status = None, "no_agreement"
    else:
        code, status = winners[0], "labeled"
    lo, hi = labels.corpus(CORPUS)["sentiment"]["range"]
    begin = max(start, 0.0)
    # one speaker per video is the MOSEI convention
    return rows.row(
        f"{vid}_{number}" if number is not None else f"{vid}_r{i}", audio=wav, video=mp4,
        speaker=vid, split=split, start=begin, end=end, video_start=begin if mp4 else None,
        video_end=end if mp4 else None, transcript=text,
        # the strongest emotion, when one is strictly strongest (intensities, not a code)
        label_native=code, label_native_name=code, label=canonical[code] if code else None,
        label_status=status, sentiment=2 * (sentiment - lo) / (hi - lo) - 1,
        sentiment_native=repr(sentiment), soft_label=soft_label(weights, labels),
        meta={"video": vid, "segment": number, "label_row": i, "sdk_id": f"{vid}[{i}]",
              "native_start": start, "intensities": dict(zip(EMOTIONS, intensities,
                                                             strict=True))})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
