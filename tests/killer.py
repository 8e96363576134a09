"""A test extractor (registered through MER_ETL_EXTRACTORS) whose worker dies on long clips,
exactly as a worker the kernel or Ray's memory monitor kills: SIGKILL, no Python cleanup."""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl.extractors.base import Extractor


class KillerExtractor(Extractor):
    name = "killer"
    version = "1"

    def schema(self) -> pa.Schema:
        return pa.schema([("utt_id", pa.string()), ("rms", pa.float32())])

    def extract(self, signal_: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        if signal_.size / sample_rate > 1.5:
            os.kill(os.getpid(), signal.SIGKILL)
        return {"rms": np.array([np.sqrt(np.mean(signal_ ** 2))], np.float32)}

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"rms": float(arrays["rms"][0])}
