"""The columns the Ray stages read and write, declared once.

The plan hands the stages WORK_COLUMNS. The decode step adds, per sample rate wanted, the
samples and their rate, plus the utterance's duration and a DECODE outcome. Each extractor adds
its packed arrays and its own outcome. An outcome is a value built where the exception is
caught (ok, skipped or failed; the stage; the reason; the message; the seconds spent), so the
writer only writes it: nothing downstream guesses a status back from error columns.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import pyarrow as pa

# What the stages need from the manifest; labels stay in the driver and join at write time.
WORK_COLUMNS = ["utt_id", "corpus", "audio_uri", "start", "end", "video_uri", "video_start",
                "video_end", "video_region", "shard"]
DURATION = "duration_s"
DECODE = "decode"  # the outcome column of the decode step
WORKER = "worker"  # set by the quarantine on an utterance that killed its worker

OUTCOME_TYPE = pa.struct([
    pa.field("status", pa.string()),  # ok | skipped | failed
    pa.field("stage", pa.string()),  # decode | extract | worker (None when ok)
    pa.field("reason", pa.string()),  # the exception's class, or a skip's reason
    pa.field("message", pa.string()),
    pa.field("seconds", pa.float64()),
])


@dataclass(frozen=True)
class Outcome:
    status: str = "ok"
    stage: str | None = None
    reason: str | None = None
    message: str | None = None
    seconds: float = 0.0

    @classmethod
    def failed(cls, stage: str, exc: BaseException) -> Outcome:
        return cls("failed", stage, type(exc).__name__, str(exc) or repr(exc))

    @classmethod
    def skipped(cls, stage: str, reason: str, message: str | None = None) -> Outcome:
        return cls("skipped", stage, reason, message)

    def timed(self, seconds: float) -> Outcome:
        """The same outcome with the seconds its step spent on the utterance."""
        return replace(self, seconds=seconds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outcomes(values: list[Outcome]) -> pa.Array:
    return pa.array([v.as_dict() for v in values], OUTCOME_TYPE)


def audio_column(rate: int | None) -> str:
    """Column holding the audio decoded at `rate` (None: the media's own rate)."""
    return f"audio_{rate or 'native'}"


def rate_of(column: str) -> str:
    """The column with the actual sample rate of an audio column."""
    return f"{column}_sr"


AUDIO_COLUMN = re.compile(r"^audio_(\d+|native)$")  # the samples; their rates travel on
NATIVE_RATE = rate_of(audio_column(None))  # the stream's own rate, where something decoded it


def blob_column(extractor: str) -> str:
    """The extractor's arrays, packed (etl.media.arrays)."""
    return f"{extractor}.blob"


def outcome_column(extractor: str) -> str:
    return f"{extractor}.outcome"


@dataclass(frozen=True)
class Columns:
    """What one stage reads and what it adds."""

    inputs: list[str]
    outputs: list[str]
