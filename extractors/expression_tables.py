"""Facial expressions from OpenFace or py-feat output, instead of MediaPipe (faces extractor,
`expression_source: openface | pyfeat`, `expression_dir`: a folder of `<media stem>.csv`).

Users who already ran OpenFace 2 (FeatureExtraction / FaceLandmarkVidMulti) or py-feat over
their videos keep those AUs: for each frame the faces extractor sampled, the CSV row nearest
in time (within half of the CSV's frame step) and, where the CSV holds several faces at that
time, the one whose box overlaps the extractor's target face most, so the tracked target face
is the one read, never a face detected again. The AUs land in the `au_proxy` columns, one per
unit of schemas/au_proxy.toml, so cues and exports read them alike; the card names the source.
- OpenFace (RecorderCSV: `frame, face_id, timestamp, confidence, success, ...`, ", "-separated
  headers): AUxx_r intensity / 5 (0..1), else the AUxx_c occurrence (0/1) where only that is
  written (AU28); rows with success 0 carry nothing; box from the 2D landmarks x_i, y_i; head
  pose from pose_Rx/Ry/Rz (radians) as yaw, pitch, roll in degrees.
- py-feat (a Fex saved with `to_csv`): AUxx columns (probabilities, 0..1), `approx_time` in
  seconds (else `frame` / `fps`), FaceRectX/Y/Width/Height, Pitch/Yaw/Roll in degrees.
Units a source does not estimate (OpenFace: AU43 — its AU45 is a blink) stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from mer_etl.extractors.face_backends import iou
from mer_etl.media.fs import plain_path

SOURCES = ("mediapipe", "openface", "pyfeat")
AU_SOURCE = {"openface": "OpenFace 2 AUs: AUxx_r / 5, else AUxx_c (not proxies)",
             "pyfeat": "py-feat AU probabilities (not proxies)"}


@dataclass(frozen=True)
class ExpressionTable:
    """One CSV's rows: time (s from the media file's start), boxes (x1, y1, x2, y2, NaN where
    unknown), AU values (unit -> 0..1 per row, NaN where the row has no face), head pose."""

    times: np.ndarray
    boxes: np.ndarray
    au: dict[str, np.ndarray]
    head: np.ndarray  # rows x (yaw, pitch, roll) in degrees


def _frame(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, infer_schema_length=0)  # all text: OpenFace pads with spaces
    df = df.rename({c: c.strip() for c in df.columns})
    return df.with_columns(pl.all().str.strip_chars().cast(pl.Float64, strict=False))


def _require(df: pl.DataFrame, path: Path, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: expected columns {missing} in this expression CSV")


def read_openface(path: Path) -> ExpressionTable:
    df = _frame(path)
    _require(df, path, ["timestamp", "success"])
    ok = df["success"].fill_null(0).to_numpy() > 0
    au = {}
    for col in df.columns:
        unit, _, kind = col.partition("_")
        if unit.startswith("AU") and kind in ("r", "c") and (kind == "r" or unit not in au):
            vals = df[col].to_numpy().astype(np.float32) / (5.0 if kind == "r" else 1.0)
            au[unit] = np.where(ok, vals, np.nan).astype(np.float32)
    xs = [c for c in df.columns if c.startswith("x_")]
    boxes = np.full((df.height, 4), np.nan, np.float32)
    if xs and all(f"y_{c[2:]}" in df.columns for c in xs):
        x = df.select(xs).to_numpy()
        y = df.select([f"y_{c[2:]}" for c in xs]).to_numpy()
        boxes = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], 1).astype(np.float32)
    head = np.full((df.height, 3), np.nan, np.float32)
    if {"pose_Rx", "pose_Ry", "pose_Rz"} <= set(df.columns):
        rx, ry, rz = (np.degrees(df[c].to_numpy()) for c in ("pose_Rx", "pose_Ry", "pose_Rz"))
        head = np.stack([ry, rx, rz], 1).astype(np.float32)  # yaw, pitch, roll
    head[~ok] = np.nan
    boxes[~ok] = np.nan
    return ExpressionTable(df["timestamp"].to_numpy(), boxes, au, head)


def read_pyfeat(path: Path, fps: float | None = None) -> ExpressionTable:
    df = _frame(path)
    if "approx_time" in df.columns:
        times = df["approx_time"].to_numpy()
    elif "frame" in df.columns and fps:
        times = df["frame"].to_numpy() / fps
    else:
        raise ValueError(f"{path}: expected an approx_time column (or frame, with "
                         "faces.expression_fps set) in this py-feat CSV")
    au = {c: df[c].to_numpy().astype(np.float32) for c in df.columns
          if len(c) == 4 and c.startswith("AU") and c[2:].isdigit()}
    boxes = np.full((df.height, 4), np.nan, np.float32)
    rect = ["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]
    if set(rect) <= set(df.columns):
        x, y, w, h = (df[c].to_numpy() for c in rect)
        boxes = np.stack([x, y, x + w, y + h], 1).astype(np.float32)
    head = np.full((df.height, 3), np.nan, np.float32)
    if {"Yaw", "Pitch", "Roll"} <= set(df.columns):
        head = np.stack([df[c].to_numpy() for c in ("Yaw", "Pitch", "Roll")], 1)
    return ExpressionTable(times, boxes, au, head.astype(np.float32))


class ImportedExpressions:
    """The CSVs of one source in one folder, looked up by the media file's stem."""

    def __init__(self, source: str, folder: str | None, fps: float | None = None) -> None:
        if source not in SOURCES[1:]:
            raise ValueError(f"faces: expression_source must be one of {SOURCES}, got "
                             f"{source!r}")
        if not folder or not Path(folder).is_dir():
            raise FileNotFoundError(f"faces: expression_source {source} reads "
                                    f"<media stem>.csv from faces.expression_dir; "
                                    f"{folder!r} is not a folder")
        self.source, self.folder, self.fps = source, Path(folder), fps

    def load(self) -> None:
        """Nothing to load: the CSVs are read per media file, as utterances need them."""

    def files(self) -> list[Path]:
        """Every CSV: their checksums are part of the faces fingerprint."""
        return sorted(self.folder.glob("*.csv"))

    @lru_cache(maxsize=8)  # noqa: B019 - one extractor per actor; a file's utterances in a row
    def table(self, path: Path) -> ExpressionTable:
        return read_openface(path) if self.source == "openface" else read_pyfeat(path, self.fps)

    def for_frames(self, uri: str, start: float | None, times: np.ndarray, boxes: np.ndarray,
                   units: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(frames x units AU values, frames x 3 head pose) for the target face's frames
        (`boxes`, NaN where the face is absent), `times` from the span's start."""
        path = self.folder / f"{Path(plain_path(uri)).stem}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{uri}: expected its {self.source} output at {path}")
        tab = self.table(path)
        n = len(times)
        au = np.full((n, len(units)), np.nan, np.float32)
        head = np.full((n, 3), np.nan, np.float32)
        if not tab.times.size:
            return au, head
        steps = np.diff(np.unique(tab.times))
        tol = float(np.median(steps)) / 2 + 1e-3 if steps.size else 0.05
        for i, t in enumerate(np.asarray(times, np.float64) + (start or 0.0)):
            if np.isnan(boxes[i]).any():
                continue
            gap = np.abs(tab.times - t)
            near = np.flatnonzero(gap <= min(tol, float(gap.min()) + 1e-6))
            if not near.size:
                continue
            overlap = [-1.0 if np.isnan(b).any() else iou(boxes[i], b) for b in tab.boxes[near]]
            row = int(near[np.argmax(overlap)])  # rows without a face box rank last
            au[i] = [tab.au[u][row] if u in tab.au else np.nan for u in units]
            head[i] = tab.head[row]
        return au, head
