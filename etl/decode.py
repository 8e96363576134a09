"""Decode any container to mono float32 PCM at one sample rate, with ffmpeg (ffmpeg-python)."""

from __future__ import annotations

import ffmpeg
import fsspec
import numpy as np

SAMPLE_RATE = 16_000


class DecodeError(RuntimeError):
    """Media that cannot be decoded; the message names the file and what was expected."""


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _ffmpeg_input(uri: str, **kwargs) -> tuple[ffmpeg.nodes.FilterableStream, bytes | None]:
    """Local files go to ffmpeg by path; remote ones are read through fsspec and piped in."""
    if _is_local(uri):
        return ffmpeg.input(uri.removeprefix("file://"), **kwargs), None
    with fsspec.open(uri, "rb") as fh:
        data = fh.read()
    return ffmpeg.input("pipe:", **kwargs), data


def _stderr_tail(exc: ffmpeg.Error) -> str:
    lines = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no diagnostic"


def decode_audio(
    uri: str, start: float | None = None, end: float | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """The [start, end) span of uri's first audio stream as mono float32 at `sample_rate`."""
    kwargs = {}
    if start:
        kwargs["ss"] = start
    if end is not None:
        kwargs["t"] = end - (start or 0.0)
    stream, data = _ffmpeg_input(uri, **kwargs)
    try:
        out, _ = (
            stream.output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate)
            # -xerror: a corrupt packet (a truncated file) fails the decode instead of
            # silently yielding a shorter signal.
            .global_args("-nostdin", "-v", "error", "-xerror")
            .run(input=data, capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise DecodeError(f"{uri}: ffmpeg could not decode audio ({_stderr_tail(exc)})") from None
    signal = np.frombuffer(out, dtype="<f4")
    if signal.size == 0:
        raise DecodeError(f"{uri}: expected audio samples, decoded none")
    return signal
