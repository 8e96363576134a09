"""Signal statistics for quality control: level, clipping, silence, per-frame energy.

Cheap enough to run on every corpus first; it flags the silent, clipped or truncated takes that
otherwise surface as odd features much later.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mer_etl.extractors.base import Extractor, Resources, Skip

EPS = 1e-10


def dbfs(x: np.ndarray | float) -> np.ndarray | float:
    return 20.0 * np.log10(np.maximum(x, EPS))


class AudioStatsExtractor(Extractor):
    name = "audio_stats"
    version = "1"
    default_config: ClassVar[dict[str, Any]] = {
        "frame_s": 0.025,  # analysis window
        "hop_s": 0.010,
        "silence_dbfs": -50.0,  # a frame below this RMS level counts as silence
        "clip_level": 0.999,  # |sample| at or above this counts as clipped
    }
    SCALARS: ClassVar[list[str]] = ["duration_s", "rms_dbfs", "peak_dbfs", "clipped_fraction",
                                    "silence_fraction", "zero_crossing_rate"]

    def resources(self) -> Resources:
        return Resources(num_cpus=1.0)

    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field("utt_id", pa.string(), nullable=False)]
            + [pa.field(n, pa.float32()) for n in self.SCALARS]
            + [pa.field("frame_rms_dbfs", pa.list_(pa.float32())),
               pa.field("frame_times", pa.list_(pa.float32()))]
        )

    def describe(self) -> dict[str, Any]:
        return {"scalars": self.SCALARS, "frame_times": "frame start, seconds from utterance start"}

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        frame = round(self.config["frame_s"] * sample_rate)
        hop = round(self.config["hop_s"] * sample_rate)
        if signal.size < frame:
            raise Skip(f"too short: {signal.size / sample_rate:.3f} s < one "
                       f"{self.config['frame_s']} s frame")
        x = signal.astype(np.float64)
        starts = np.arange(0, x.size - frame + 1, hop)
        frames = np.lib.stride_tricks.sliding_window_view(x, frame)[starts]
        frame_rms = np.sqrt(np.mean(frames**2, axis=1))
        signs = np.signbit(x)
        scalars = [
            x.size / sample_rate,
            dbfs(np.sqrt(np.mean(x**2))),
            dbfs(np.max(np.abs(x))),
            float(np.mean(np.abs(x) >= self.config["clip_level"])),
            float(np.mean(dbfs(frame_rms) < self.config["silence_dbfs"])),
            float(np.mean(signs[1:] != signs[:-1])),
        ]
        return {
            "scalars": np.asarray(scalars, dtype=np.float32),
            "frame_rms_dbfs": dbfs(frame_rms).astype(np.float32),
            "frame_times": (starts / sample_rate).astype(np.float32),
        }

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        row: dict[str, Any] = dict(zip(self.SCALARS, arrays["scalars"].tolist(), strict=True))
        row["frame_rms_dbfs"] = arrays["frame_rms_dbfs"]
        row["frame_times"] = arrays["frame_times"]
        return row
