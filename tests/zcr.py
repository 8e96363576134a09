"""A frame-level extractor of a user's own, written the way the README tells users to: this
module is all of it. Registered through MER_ETL_EXTRACTORS, it joins the word-aligned view
(its declared frame series) and the report (its declared items) without a line elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl.extractors.base import Extractor, FrameSeries, ReportItem, Skip

WINDOW, HOP = 400, 160  # 25 ms frames every 10 ms at 16 kHz


class ZeroCrossingExtractor(Extractor):
    name = "zcr"
    version = "1"

    def frame_series(self) -> list[FrameSeries]:
        return [FrameSeries("frame_times", WINDOW / 16_000, {"frames": "zcr"})]

    def report(self) -> list[ReportItem]:
        return [ReportItem("histogram", "Zero-crossing rate", column="mean_zcr",
                           label="mean zero crossings per sample"),
                ReportItem("per_corpus", "Zero-crossing rate per corpus",
                           columns={"utterances": "count:utt_id", "mean": "mean:mean_zcr"})]

    def schema(self) -> pa.Schema:
        f32 = pa.list_(pa.float32())
        return pa.schema([("utt_id", pa.string()), ("frames", pa.list_(f32)),
                          ("frame_times", f32), ("mean_zcr", pa.float32())])

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        if signal.size < WINDOW:
            raise Skip("shorter than one frame")
        starts = np.arange(0, signal.size - WINDOW + 1, HOP)
        sign = np.signbit(signal).astype(np.int8)
        crossings = np.abs(np.diff(sign))
        zcr = np.array([crossings[s:s + WINDOW - 1].mean() for s in starts], np.float32)
        return {"frames": zcr[:, None], "frame_times": (starts / sample_rate).astype(np.float32),
                "mean_zcr": np.array([zcr.mean()], np.float32)}

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"frames": arrays["frames"].tolist(), "frame_times": arrays["frame_times"].tolist(),
                "mean_zcr": float(arrays["mean_zcr"][0])}
