"""Ray Data stages: decode once per utterance, then one stage per extractor.

Stages take and return pyarrow batches. Each adds its own columns: a packed-array blob, the
error (type and message) when it failed, and the seconds it spent, so a failure in one
utterance or one extractor never costs the rest of the batch.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

import extractors
from etl.arrays import pack
from etl.decode import SAMPLE_RATE, decode_audio


def _error(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc) or repr(exc)


def decode_batch(batch: pa.Table, sample_rate: int = SAMPLE_RATE) -> pa.Table:
    """Adds audio (float32 bytes), duration_s, decode_error_type, decode_error, decode_s."""
    audio, duration, err_type, err_msg, secs = [], [], [], [], []
    for uri, start, end in zip(
        batch["audio_uri"].to_pylist(), batch["start"].to_pylist(), batch["end"].to_pylist(),
        strict=True,
    ):
        t0 = time.perf_counter()
        signal, etype, emsg = None, None, None
        if uri is not None:  # no audio (a video-only recording) is not an error
            try:
                signal = decode_audio(uri, start, end, sample_rate)
            except Exception as exc:  # one bad file never stops the batch
                etype, emsg = _error(exc)
        audio.append(None if signal is None else signal.tobytes())
        duration.append(None if signal is None else signal.size / sample_rate)
        err_type.append(etype)
        err_msg.append(emsg)
        secs.append(time.perf_counter() - t0)
    return (
        batch.append_column("audio", pa.array(audio, pa.large_binary()))
        .append_column("duration_s", pa.array(duration, pa.float64()))
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
                 sample_rate: int = SAMPLE_RATE, decode: bool = False,
                 drop_audio: bool = False) -> None:
        self.decode = decode  # the first stage decodes each utterance once for all stages
        self.drop_audio = drop_audio  # the last stage drops it: the driver never needs audio
        self.extractors = [extractors.build(name, device=device, **config)
                           for name, config in specs]
        for ex in self.extractors:
            ex.setup()
        self.sample_rate = sample_rate

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.decode:
            batch = decode_batch(batch, self.sample_rate)
        audio = batch["audio"].to_pylist()
        for ex in self.extractors:
            batch = self._one(ex, audio, batch)
        return batch.drop_columns(["audio"]) if self.drop_audio else batch

    def _one(self, ex: extractors.Extractor, audio: list[bytes | None],
             batch: pa.Table) -> pa.Table:
        blobs, err_type, err_msg, secs = [], [], [], []
        for data in audio:
            t0 = time.perf_counter()
            blob, etype, emsg = None, None, None
            if data is not None:  # no input: decode failed or the utterance has no audio
                try:
                    signal = np.frombuffer(data, dtype=np.float32)
                    blob = pack(ex.extract(signal, self.sample_rate))
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
