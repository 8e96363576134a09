"""AffectGPT's dataset layout (MER2025 tracks 2 and 3, as its MERCaptionPlus/OVMERD readers
load them), written from a dataset version:

  subtitle_chieng.csv         name,chinese,english: the subtitle (AffectGPT reads `english`;
                              `chinese` carries it too where the utterance is in Chinese)
  track2_train_mer_etl.csv    name,openset: the target words as a Python list literal,
                              "['happy', 'surprised']" (what its string_to_list parses)
  track3_train_mer_etl.csv    name,reason: the first description, for samples that have one
  audio/<name>.wav            the utterance's span, 16 kHz mono 16-bit (its audio reader
                              expects WAV files named by sample)
  video/<name>.mp4            a link to the source video, where the utterance is the whole file
  openface_face/<name>/<name>.npy  the target face's crops per sampled frame, (T, 112, 112, 3)
                              uint8 in OpenCV's BGR order (what its load_face gets from np.load)

Names are utterance ids with anything but letters, digits, `_` and `-` replaced by `_`; the
map is in names.csv, with each sample's source media and span.
"""

from __future__ import annotations

import csv
import io
import os
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np

from mer_etl.cues import features
from mer_etl.media.audio import DecodeError, decode_audio
from mer_etl.media.fs import plain_path
from mer_etl.store import resolve_dataset

TRACK = "mer_etl"  # the dataset name in the track CSVs' file names
RATE = 16_000


def sample_name(utt_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", utt_id)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _wav(path: Path, signal: np.ndarray) -> None:
    pcm = (np.clip(signal, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def _faces_npy(crops: list[bytes]) -> np.ndarray | None:
    from PIL import Image

    frames = [np.asarray(Image.open(io.BytesIO(c)).convert("RGB"))[:, :, ::-1]
              for c in crops if c]
    return np.stack(frames).astype(np.uint8) if frames else None


def write(path: str, rows: list[dict[str, Any]], out: Path) -> tuple[list[Path], dict[str, int]]:
    """The layout above for `rows` (export's rows: manifest, cues and `answer`); returns the
    files written (media folders counted, not listed) and what each media kind covered."""
    crops = features(resolve_dataset(path), "faces", ["crops"])
    crops_by = ({r["utt_id"]: r["crops"] for r in crops.iter_rows(named=True)}
                if crops is not None else {})
    counts = {"audio": 0, "audio_failed": 0, "video": 0, "video_not_whole_mp4": 0, "faces": 0}
    subs, track2, track3, names = [], [], [], []
    for d in ("audio", "video", "openface_face"):
        (out / d).mkdir(exist_ok=True)
    for r in rows:
        name = sample_name(r["utt_id"])
        text = r.get("transcript") or ""
        zh = (r.get("language") or "").startswith("zh")
        subs.append([name, text if zh else "", text])
        words = r["answer_list"]
        track2.append([name, repr(words)])
        if r.get("description"):
            track3.append([name, r["description"]])
        src = r.get("audio_uri") or r.get("video_uri")
        names.append([name, r["utt_id"], src, r.get("start"), r.get("end")])
        if src:
            try:
                _wav(out / "audio" / f"{name}.wav", decode_audio(src, r.get("start"),
                                                                 r.get("end"), RATE))
                counts["audio"] += 1
            except DecodeError:
                counts["audio_failed"] += 1
        video = r.get("video_uri")
        if video:
            whole = r.get("start") is None and r.get("end") is None
            if whole and video.lower().endswith(".mp4"):
                link = out / "video" / f"{name}.mp4"
                link.unlink(missing_ok=True)
                os.symlink(plain_path(video), link)
                counts["video"] += 1
            else:
                counts["video_not_whole_mp4"] += 1
        faces = _faces_npy(crops_by.get(r["utt_id"]) or [])
        if faces is not None:
            (out / "openface_face" / name).mkdir(exist_ok=True)
            np.save(out / "openface_face" / name / f"{name}.npy", faces)
            counts["faces"] += 1
    files = [_write_csv(out / "subtitle_chieng.csv", ["name", "chinese", "english"], subs),
             _write_csv(out / f"track2_train_{TRACK}.csv", ["name", "openset"], track2),
             _write_csv(out / "names.csv", ["name", "utt_id", "source", "start", "end"], names)]
    if track3:
        files.append(_write_csv(out / f"track3_train_{TRACK}.csv", ["name", "reason"], track3))
    return files, counts
