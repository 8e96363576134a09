"""Ray Data stages: decode once per utterance (per sample rate wanted), then the extractors.

Stages take and return pyarrow batches and declare the columns they read and add
(`inputs()` / `outputs()`, names from etl.contract). Each utterance's outcome is built where its
exception is caught, so a failure in one utterance or one extractor never costs the rest of the
batch and reaches the writer as a value.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl import contract as c
from mer_etl import extractors
from mer_etl.contract import Outcome
from mer_etl.media.arrays import pack
from mer_etl.media.audio import decode_audio_at


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


class Decode:
    """Decodes each utterance's audio span once per wanted rate."""

    def __init__(self, rates: list[int | None], max_seconds: float | None = None) -> None:
        self.rates, self.max_seconds = rates, max_seconds

    def columns(self) -> c.Columns:
        added = [col for r in self.rates for col in (c.audio_column(r),
                                                     c.rate_of(c.audio_column(r)))]
        return c.Columns(["audio_uri", "start", "end"], [*added, c.DURATION, c.DECODE])

    def __call__(self, batch: pa.Table) -> pa.Table:
        audio: dict[int | None, list[bytes | None]] = {r: [] for r in self.rates}
        sr: dict[int | None, list[int | None]] = {r: [] for r in self.rates}
        duration, results = [], []
        for uri, start, end in zip(batch["audio_uri"].to_pylist(), batch["start"].to_pylist(),
                                   batch["end"].to_pylist(), strict=True):
            t0 = time.perf_counter()
            decoded: dict[int | None, tuple[np.ndarray, int]] = {}
            outcome = Outcome()
            if uri is None:  # a video-only recording: not an error, nothing for audio
                outcome = Outcome.skipped(c.DECODE, "no audio",
                                          "the utterance has no audio stream")
            else:
                try:
                    for rate in self.rates:
                        decoded[rate] = decode_audio_at(uri, start, end, rate, self.max_seconds)
                except Exception as exc:  # one bad file never stops the batch
                    decoded, outcome = {}, Outcome.failed(c.DECODE, exc)
            for rate in self.rates:
                signal, got = decoded.get(rate, (None, None))
                audio[rate].append(None if signal is None else signal.tobytes())
                sr[rate].append(got)
            first = next(iter(decoded.values()), None)
            duration.append(None if first is None else first[0].size / first[1])
            results.append(outcome.timed(time.perf_counter() - t0))
        for rate in self.rates:
            col = c.audio_column(rate)
            batch = (batch.append_column(col, pa.array(audio[rate], pa.large_binary()))
                     .append_column(c.rate_of(col), pa.array(sr[rate], pa.int32())))
        return (batch.append_column(c.DURATION, pa.array(duration, pa.float64()))
                .append_column(c.DECODE, c.outcomes(results)))


class Extract:
    """Runs one extractor on each utterance of a batch."""

    def __init__(self, ex: extractors.Extractor) -> None:
        self.ex = ex

    def columns(self) -> c.Columns:
        if self.ex.modality == "video":
            reads = ["video_uri", "video_start", "video_end", "video_region"]
        else:
            col = c.audio_column(self.ex.input_rate())
            reads = [col, c.rate_of(col), c.DECODE]
        return c.Columns(reads, [c.blob_column(self.ex.name), c.outcome_column(self.ex.name)])

    def _inputs(self, batch: pa.Table) -> list[tuple | Outcome]:
        """What `extract` gets per utterance, or the outcome when there is nothing to give."""
        if self.ex.modality == "video":
            return [Outcome.skipped(c.DECODE, "no video", "the utterance has no video stream")
                    if uri is None else (uri, start, end, region)
                    for uri, start, end, region in zip(
                        batch["video_uri"].to_pylist(), batch["video_start"].to_pylist(),
                        batch["video_end"].to_pylist(), batch["video_region"].to_pylist(),
                        strict=True)]
        col = c.audio_column(self.ex.input_rate())
        out: list[tuple | Outcome] = []
        for data, sr, decoded in zip(batch[col].to_pylist(), batch[c.rate_of(col)].to_pylist(),
                                     batch[c.DECODE].to_pylist(), strict=True):
            if data is None:  # the decode's own outcome says why, for every audio extractor
                out.append(Outcome(**decoded).timed(0.0))
            else:
                out.append((np.frombuffer(data, dtype=np.float32), sr))
        return out

    def _result(self, result: dict[str, np.ndarray] | Exception
                ) -> tuple[bytes | None, Outcome]:
        """The packed arrays and the outcome of one utterance's extract result."""
        try:
            if isinstance(result, Exception):
                raise result
            return pack(finite(self.ex, result)), Outcome()
        except extractors.Skip as exc:  # not for this extractor: skipped, with why
            return None, Outcome.skipped("extract", str(exc))
        except Exception as exc:  # recorded in errors.parquet by the writer
            return None, Outcome.failed("extract", exc)

    def __call__(self, batch: pa.Table) -> pa.Table:
        inputs = self._inputs(batch)
        blobs: list[bytes | None] = [None] * len(inputs)
        results: list[Outcome] = [a if isinstance(a, Outcome) else Outcome() for a in inputs]
        todo = [i for i, a in enumerate(inputs) if not isinstance(a, Outcome)]
        if self.ex.batch_size() > 1 and todo:  # one model call for many; time shared evenly
            t0 = time.perf_counter()
            many = self.ex.extract_many([inputs[i] for i in todo])
            share = (time.perf_counter() - t0) / len(todo)
            for i, result in zip(todo, many, strict=True):
                blobs[i], outcome = self._result(result)
                results[i] = outcome.timed(share)
        else:
            for i in todo:
                t0 = time.perf_counter()
                try:
                    result: dict[str, np.ndarray] | Exception = self.ex.extract(*inputs[i])
                except Exception as exc:  # judged by _result, as a batched item's would be
                    result = exc
                blobs[i], outcome = self._result(result)
                results[i] = outcome.timed(time.perf_counter() - t0)
        return (batch.append_column(c.blob_column(self.ex.name),
                                    pa.array(blobs, pa.large_binary()))
                .append_column(c.outcome_column(self.ex.name), c.outcomes(results)))


class ExtractorStage:
    """A Ray Data callable class running one or more extractors on each utterance.

    The extractors are built and set up once per actor. The engine puts every CPU extractor in
    one stage (one actor per CPU, no CPU held by an idle light stage) and each GPU extractor in
    its own stage, so Ray places them by their declared resources.
    """

    def __init__(self, specs: list[tuple[str, dict[str, Any]]], device: str,
                 rates: list[int | None] | None = None, drop_audio: bool = False,
                 max_seconds: float | None = None) -> None:
        # the first stage decodes each utterance once for all stages
        self.decode = None if rates is None else Decode(rates, max_seconds)
        self.drop_audio = drop_audio  # the last stage drops it: the driver never needs audio
        self.steps = [Extract(extractors.build(name, device=device, **config))
                      for name, config in specs]
        for step in self.steps:
            step.ex.setup()

    def columns(self) -> c.Columns:
        """What this stage reads from the batches it gets, and what it adds to them."""
        steps = ([self.decode] if self.decode else []) + self.steps
        added = [col for s in steps for col in s.columns().outputs]
        needed = [col for s in steps for col in s.columns().inputs if col not in added]
        return c.Columns(list(dict.fromkeys(needed)), added)

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.decode is not None:
            batch = self.decode(batch)
        for step in self.steps:
            batch = step(batch)
        if self.drop_audio:
            batch = batch.drop_columns([col for col in batch.column_names
                                        if c.AUDIO_COLUMN.match(col)])
        return batch
