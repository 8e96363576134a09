"""Ray Data stages: decode once per utterance (per sample rate wanted), then the extractors.

Stages take and return pyarrow batches. Each adds its own columns: a packed-array blob, the
error (type and message) when it failed, and the seconds it spent, so a failure in one
utterance or one extractor never costs the rest of the batch.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pyarrow as pa

import extractors
from etl.arrays import pack
from etl.decode import decode_audio_at


def _error(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc) or repr(exc)


class NonFiniteFeatures(ValueError):
    """An extractor returned NaN or Inf where it documents none (`Extractor.nan_ok`)."""


def finite(ex: extractors.Extractor, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays, or NonFiniteFeatures: no NaN leaves an ok row unless the extractor says
    what it means."""
    if ex.nan_ok is None:
        bad = [k for k, v in arrays.items()
               if v.dtype.kind in "fc" and not np.isfinite(v).all()]
        if bad:
            raise NonFiniteFeatures(f"{ex.name}: NaN or Inf in {', '.join(sorted(bad))}")
    return arrays


AUDIO_RE = re.compile(r"^audio_(\d+|native)$")  # the samples; their rates (`_sr`) travel on


def rate_column(rate: int | None) -> str:
    """Column holding the audio decoded at `rate` (None: the media's own rate)."""
    return f"audio_{rate or 'native'}"


def decode_batch(batch: pa.Table, rates: list[int | None],
                 max_seconds: float | None = None) -> pa.Table:
    """Adds per rate the audio (float32 bytes) and its rate, then duration_s,
    decode_error_type, decode_error and decode_s."""
    audio: dict[int | None, list[bytes | None]] = {r: [] for r in rates}
    sr: dict[int | None, list[int | None]] = {r: [] for r in rates}
    duration, err_type, err_msg, secs = [], [], [], []
    for uri, start, end in zip(
        batch["audio_uri"].to_pylist(), batch["start"].to_pylist(), batch["end"].to_pylist(),
        strict=True,
    ):
        t0 = time.perf_counter()
        decoded: dict[int | None, tuple[np.ndarray, int]] = {}
        etype, emsg = None, None
        if uri is not None:  # no audio (a video-only recording) is not an error
            try:
                for rate in rates:
                    decoded[rate] = decode_audio_at(uri, start, end, rate, max_seconds)
            except Exception as exc:  # one bad file never stops the batch
                decoded, (etype, emsg) = {}, _error(exc)
        for rate in rates:
            signal, got = decoded.get(rate, (None, None))
            audio[rate].append(None if signal is None else signal.tobytes())
            sr[rate].append(got)
        first = next(iter(decoded.values()), None)
        duration.append(None if first is None else first[0].size / first[1])
        err_type.append(etype)
        err_msg.append(emsg)
        secs.append(time.perf_counter() - t0)
    for rate in rates:
        batch = (batch.append_column(rate_column(rate), pa.array(audio[rate], pa.large_binary()))
                 .append_column(f"{rate_column(rate)}_sr", pa.array(sr[rate], pa.int32())))
    return (
        batch.append_column("duration_s", pa.array(duration, pa.float64()))
        .append_column("decode_error_type", pa.array(err_type, pa.string()))
        .append_column("decode_error", pa.array(err_msg, pa.string()))
        .append_column("decode_s", pa.array(secs, pa.float64()))
    )


class ExtractorStage:
    """A Ray Data callable class running one or more extractors on each utterance.

    The extractors are built and set up once per actor. The engine puts every CPU extractor in
    one stage (one actor per CPU, no CPU held by an idle light stage) and each GPU extractor in
    its own stage, so Ray places them by their declared resources.
    """

    def __init__(self, specs: list[tuple[str, dict[str, Any]]], device: str,
                 rates: list[int | None] | None = None, drop_audio: bool = False,
                 max_seconds: float | None = None) -> None:
        self.rates = rates  # the first stage decodes each utterance once for all stages
        self.max_seconds = max_seconds
        self.drop_audio = drop_audio  # the last stage drops it: the driver never needs audio
        self.extractors = [extractors.build(name, device=device, **config)
                           for name, config in specs]
        for ex in self.extractors:
            ex.setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.rates is not None:
            batch = decode_batch(batch, self.rates, self.max_seconds)
        for ex in self.extractors:
            batch = self._one(ex, batch)
        if self.drop_audio:
            batch = batch.drop_columns([c for c in batch.column_names if AUDIO_RE.match(c)])
        return batch

    def _inputs(self, ex: extractors.Extractor, batch: pa.Table) -> list[tuple | None]:
        """What `extract` gets per utterance, or None when there is nothing to give it."""
        if ex.modality == "video":
            return [None if uri is None else (uri, start, end, uid) for uri, start, end, uid
                    in zip(batch["video_uri"].to_pylist(), batch["video_start"].to_pylist(),
                           batch["video_end"].to_pylist(), batch["utt_id"].to_pylist(),
                           strict=True)]
        col = rate_column(ex.input_rate())
        return [None if data is None else (np.frombuffer(data, dtype=np.float32), sr)
                for data, sr in zip(batch[col].to_pylist(), batch[f"{col}_sr"].to_pylist(),
                                    strict=True)]

    def _one(self, ex: extractors.Extractor, batch: pa.Table) -> pa.Table:
        blobs, err_type, err_msg, secs = [], [], [], []
        for args in self._inputs(ex, batch):
            t0 = time.perf_counter()
            blob, etype, emsg = None, None, None
            if args is not None:  # no input: decode failed or the utterance lacks the stream
                try:
                    blob = pack(finite(ex, ex.extract(*args)))
                except Exception as exc:  # recorded in errors.parquet by the writer
                    etype, emsg = _error(exc)
            blobs.append(blob)
            err_type.append(etype)
            err_msg.append(emsg)
            secs.append(time.perf_counter() - t0)
        return (
            batch.append_column(f"{ex.name}_blob", pa.array(blobs, pa.large_binary()))
            .append_column(f"{ex.name}_error_type", pa.array(err_type, pa.string()))
            .append_column(f"{ex.name}_error", pa.array(err_msg, pa.string()))
            .append_column(f"{ex.name}_s", pa.array(secs, pa.float64()))
        )
