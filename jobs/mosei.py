"""CMU-MOSEI and CMU-MOSI: segments inside full YouTube videos, labels in the CMU
MultimodalSDK's computational sequences (HDF5): CMU_MOSEI_Labels.csd, CMU_MOSI_Opinion_Labels.csd.

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

CMU-MOSI's sequence has one feature per interval, the sentiment (its segments carry no emotion
intensities: label status unlabeled); its media are `WAV_16000/<video>.wav` and
`Video/Full/<video>.mp4` in the SDK's raw download, the `Segmented/` copies are not read.

Split: the SDK's standard folds (`cmu_mosei_std_folds.py` of CMU-MultimodalSDK, read without
executing it from the root or from an installed `mmsdk`); videos in no fold, or all videos when
the folds file is absent (recorded as a problem), have a null split.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fsspec import AbstractFileSystem

from mer_etl.jobs.agreement import soft_label
from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    basename,
    read_text,
    stem,
    to_float,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, rescale

EMOTIONS = ["happiness", "sadness", "anger", "surprise", "disgust", "fear"]
FOLDS = {"standard_train_fold": "train", "standard_valid_fold": "validation",
         "standard_test_fold": "test"}


@dataclass(frozen=True)
class Sdk:
    """One corpus of the CMU MultimodalSDK: its label sequence, feature width and folds."""

    corpus: str
    labels_file: str
    width: int  # features per interval: 7 (sentiment + six intensities) or 1 (sentiment)
    folds_file: str
    sdk_dir: str  # mmsdk/mmdatasdk/dataset/standard_datasets/<sdk_dir>/<folds_file>
    layout: str


MOSEI = Sdk("mosei", "CMU_MOSEI_Labels.csd", 7, "cmu_mosei_std_folds.py", "CMU_MOSEI",
            "CMU_MOSEI_Labels.csd with Raw/Audio/Full/WAV_16000/<video>.wav (optional "
            "Videos/Full/Combined/<video>.mp4, Transcript/Segmented/Combined/<video>.txt)")
MOSI = Sdk("mosi", "CMU_MOSI_Opinion_Labels.csd", 1, "cmu_mosi_std_folds.py", "CMU_MOSI",
           "CMU_MOSI_Opinion_Labels.csd with Raw/Audio/WAV_16000/Full/<video>.wav (optional "
           "Raw/Video/Full/<video>.mp4)")
CORPUS = MOSEI.corpus
FOLDS_FILE = MOSEI.folds_file
TRANSCRIPT_RE = re.compile(r"^(.+?)___(\d+)___(-?[\d.]+)___(-?[\d.]+)___(.*)$")


def parse_labels(fileobj: Any, path: str, bad: list[LabelFileError] | None = None,
                 width: int = 7) -> dict[str, list[tuple[float, float, np.ndarray]]]:
    """video id -> [(start, end, features[width])] from a computational-sequence HDF5 file.

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
                out[vid] = _video_labels(h5py, vid, group, path, width)
            except LabelFileError as exc:
                if bad is None:
                    raise
                bad.append(exc)
    return out


def _video_labels(h5py: Any, vid: str, group: Any, path: str, width: int
                  ) -> list[tuple[float, float, np.ndarray]]:
    where = f"data/{vid}"
    if not isinstance(group, h5py.Group) or not {"features", "intervals"} <= set(group):
        raise LabelFileError(path, where, "'features' and 'intervals'", str(list(group)))
    try:
        feats, ivals = np.asarray(group["features"]), np.asarray(group["intervals"])
    except (OSError, TypeError, ValueError) as exc:
        raise LabelFileError(path, where, "readable arrays", str(exc)) from None
    if feats.ndim != 2 or feats.shape[1] != width or ivals.shape != (len(feats), 2):
        raise LabelFileError(path, where, f"features n x {width} and intervals n x 2",
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


def _installed_folds(sdk: Sdk) -> Path | None:
    spec = importlib.util.find_spec("mmsdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    path = base / "mmdatasdk/dataset/standard_datasets" / sdk.sdk_dir / sdk.folds_file
    return path if path.is_file() else None


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema, sdk: Sdk = MOSEI
         ) -> ScanResult:
    result, corpus = ScanResult(), sdk.corpus
    audio, video, transcripts = {}, {}, {}
    labels_path = folds_path = None
    for path in walk_files(fs, root, result, corpus):
        name = basename(path)
        if name == sdk.labels_file:
            labels_path = path
        elif name == sdk.folds_file:
            folds_path = path
        elif name.endswith(".wav") and "/WAV_16000/" in path and "/Segmented/" not in path:
            audio[stem(path)] = path
        elif name.endswith(".mp4") and "/Full/" in path:
            video[stem(path)] = path
        elif name.endswith(".txt") and "/Segmented/" in path:
            transcripts[stem(path)] = path
    if labels_path is None:
        if audio:
            result.problem(corpus, root, "MissingLabelFile", f"expected {sdk.labels_file}")
        return result
    bad: list[LabelFileError] = []
    try:
        with fs.open(labels_path, "rb") as fh:
            segments = parse_labels(fh, labels_path, bad, sdk.width)
    except LabelFileError as exc:
        result.problem(corpus, labels_path, "LabelFileError", f"{exc} (no label read)")
        return result
    finally:
        result.bad_lines(corpus, bad)
    try:
        folds = _folds(fs, folds_path, result, sdk)
    except LabelFileError as exc:  # costs the splits, never the labels
        result.problem(corpus, exc.path, "LabelFileError", f"{exc}; every split is null")
        folds = {}
    for vid in sorted(set(audio) - set(segments)):
        result.problem(corpus, audio[vid], "MediaWithoutLabel", f"{vid}: no labels in the .csd")
    rows = RowBuilder(corpus, labels)
    for vid, segs in sorted(segments.items()):
        if vid not in audio:
            result.problem(corpus, f"{labels_path}:data/{vid}", "LabelWithoutMedia",
                           f"{vid}: {len(segs)} labelled segment(s) but no WAV_16000/{vid}.wav")
            continue
        numbers = segment_numbers(segs, _transcripts(fs, transcripts.get(vid), result, corpus))
        for i, (start, end, feats) in enumerate(segs):
            number, text = numbers[i] if numbers else (None, None)
            result.rows.append(_row(rows, vid, i, number, start, end, feats, audio[vid],
                                    video.get(vid), folds.get(vid), text))
    return result


def _folds(fs: AbstractFileSystem, path: str | None, result: ScanResult, sdk: Sdk
           ) -> dict[str, str]:
    if path is not None:
        return parse_folds(read_text(fs, path), path)
    installed = _installed_folds(sdk)
    if installed is not None:
        return parse_folds(installed.read_text(), str(installed))
    result.problem(sdk.corpus, sdk.folds_file, "MissingFolds",
                   f"standard folds not found: put the SDK's {sdk.folds_file} in the root or "
                   "install CMU-MultimodalSDK; every split is null")
    return {}


def _transcripts(fs: AbstractFileSystem, path: str | None, result: ScanResult, corpus: str
                 ) -> list[tuple[int, float, float, str]]:
    if path is None:
        return []
    bad: list[LabelFileError] = []
    try:
        return parse_transcript(read_text(fs, path, ("utf-8", "cp1252")), path, bad)
    except LabelFileError as exc:
        result.problem(corpus, path, "LabelFileError", f"{exc} (no text of this file read)")
        return []
    finally:
        result.bad_lines(corpus, bad)


def _row(rows: RowBuilder, vid: str, i: int, number: int | None, start: float, end: float,
         feats: np.ndarray, wav: str, mp4: str | None, split: str | None, text: str | None
         ) -> Row:
    labels, corpus = rows.labels, rows.corpus
    sentiment, intensities = float(feats[0]), [float(v) for v in feats[1:]]
    emotion: dict[str, Any] = {"label_status": "unlabeled"}  # MOSI: sentiment only
    meta: dict[str, Any] = {}
    if intensities:
        canonical = {e: labels.map_label(corpus, e).canonical for e in EMOTIONS}
        weights = {canonical[e]: v for e, v in zip(EMOTIONS, intensities, strict=True)
                   if v > 0}
        top = max(intensities)
        winners = [e for e, v in zip(EMOTIONS, intensities, strict=True) if v == top]
        if top <= 0:
            code, status = None, "unlabeled"
        elif len(winners) > 1:
            code, status = None, "no_agreement"
        else:
            code, status = winners[0], "labeled"
        # the strongest emotion, when one is strictly strongest (intensities, not a code)
        emotion = {"label_native": code, "label_native_name": code,
                   "label": canonical[code] if code else None, "label_status": status,
                   "soft_label": soft_label(weights, labels)}
        meta["intensities"] = dict(zip(EMOTIONS, intensities, strict=True))
    lo, hi = labels.corpus(corpus)["sentiment"]["range"]
    begin = max(start, 0.0)
    # one speaker per video is the CMU corpora's convention
    return rows.row(
        f"{vid}_{number}" if number is not None else f"{vid}_r{i}", audio=wav, video=mp4,
        speaker=vid, split=split, start=begin, end=end, video_start=begin if mp4 else None,
        video_end=end if mp4 else None, transcript=text,
        sentiment=rescale(sentiment, lo, hi), sentiment_native=repr(sentiment),
        meta={"video": vid, "segment": number, "label_row": i, "sdk_id": f"{vid}[{i}]",
              "native_start": start, **meta}, **emotion)


def sdk_adapter(sdk: Sdk) -> Adapter:
    return Adapter(name=sdk.corpus, layout=sdk.layout,
                   scan=lambda fs, root, labels: scan(fs, root, labels, sdk))


ADAPTER = sdk_adapter(MOSEI)
MOSI_ADAPTER = sdk_adapter(MOSI)
