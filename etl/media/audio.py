"""Decode any container to mono float32 PCM: at a given sample rate, or at the stream's own
rate for extractors that must see the original signal (eGeMAPS).

WAV and FLAC with one or two channels are read in process (soundfile; soxr's HQ resampler where
a rate is asked for): on 2-3 s clips starting an ffmpeg process per clip cost 60 ms against
0.4 ms. The samples are ffmpeg's: its downmix of two channels ((L + R) / sqrt 2, in float32)
and its span arithmetic (start and length in microseconds, rounded to samples), identical on
whole files and on spans except where a span edge falls within rounding of half a sample
(then the two differ by that one edge sample; tests/test_decode.py). Everything else (Ogg,
MP3, video containers, more channels) and any file soundfile cannot open goes through ffmpeg
(ffmpeg-python), which also names what is wrong with a file it cannot decode either.
"""

from __future__ import annotations

import math
import struct
from typing import Any, BinaryIO

import ffmpeg
import fsspec
import numpy as np

from mer_etl.media.fs import is_local, plain_path, read_bytes

SAMPLE_RATE = 16_000
# Part of every dataset version (RunConfig.output_config): which decoder made the samples.
# 2: WAV/FLAC in process (soundfile + soxr HQ), the rest ffmpeg; 1: ffmpeg for everything.
DECODER = "2"
IN_PROCESS = (".wav", ".flac")
_DOWNMIX = np.float32(math.sqrt(0.5))  # ffmpeg's stereo-to-mono gain per channel


class DecodeError(RuntimeError):
    """Media that cannot be decoded; the message names the file and what was expected."""


def _ffmpeg_input(uri: str, **kwargs) -> tuple[ffmpeg.nodes.FilterableStream, bytes | None]:
    """Local files go to ffmpeg by path; remote ones are read through fsspec and piped in."""
    if is_local(uri):
        return ffmpeg.input(plain_path(uri), **kwargs), None
    return ffmpeg.input("pipe:", **kwargs), read_bytes(uri)


def span_args(start: float | None, end: float | None) -> dict[str, float]:
    """ffmpeg input options that cut [start, end) (seek, then duration)."""
    kwargs = {}
    if start:
        kwargs["ss"] = start
    if end is not None:
        kwargs["t"] = end - (start or 0.0)
    return kwargs


def stderr_tail(exc: ffmpeg.Error) -> str:
    lines = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no diagnostic"


def decode_audio(
    uri: str, start: float | None = None, end: float | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """The [start, end) span of uri's first audio stream as mono float32 at `sample_rate`."""
    signal, _ = decode_audio_at(uri, start, end, sample_rate)
    return signal


class TooLongError(DecodeError):
    """An utterance longer than the run's limit (`--max-seconds`)."""


def decode_audio_at(
    uri: str, start: float | None = None, end: float | None = None,
    sample_rate: int | None = SAMPLE_RATE, max_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """(signal, rate): the span as mono float32, resampled to `sample_rate`, or at the stream's
    native rate when it is None (read from the WAV header ffmpeg writes, so one process).

    `max_seconds` bounds memory: ffmpeg stops just past the limit, so an hour-long file costs
    no more than the limit, and a span longer than it is a TooLongError."""
    found = _in_process(uri, start, end, sample_rate, max_seconds)
    signal, rate = found if found is not None else _ffmpeg(uri, start, end, sample_rate,
                                                           max_seconds)
    return _checked(uri, signal, rate, start, end, max_seconds)


def _ffmpeg(uri: str, start: float | None, end: float | None, sample_rate: int | None,
            max_seconds: float | None) -> tuple[np.ndarray, int]:
    span = span_args(start, end)
    if max_seconds is not None and span.get("t", float("inf")) > max_seconds:
        span["t"] = max_seconds + 0.05  # a little past the limit tells "too long" apart
    stream, data = _ffmpeg_input(uri, **span)
    try:
        out, _ = (
            stream.output("pipe:", format="wav", acodec="pcm_f32le", ac=1,
                          **({"ar": sample_rate} if sample_rate else {}))
            # -xerror: a corrupt packet (a truncated file) fails the decode instead of
            # silently yielding a shorter signal.
            .global_args("-nostdin", "-v", "error", "-xerror")
            .run(input=data, capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise DecodeError(f"{uri}: ffmpeg could not decode audio ({stderr_tail(exc)})") from None
    rate, payload = _wav_payload(uri, out)
    return np.frombuffer(payload, dtype="<f4"), rate


def _checked(uri: str, signal: np.ndarray, rate: int, start: float | None, end: float | None,
             max_seconds: float | None) -> tuple[np.ndarray, int]:
    """The same checks on what either decoder returned."""
    if signal.size == 0:
        raise DecodeError(f"{uri}: expected audio samples, decoded none")
    if not np.isfinite(signal).all():  # a float WAV can carry them; every feature would be NaN
        raise DecodeError(f"{uri}: expected finite samples, found "
                          f"{int((~np.isfinite(signal)).sum())} NaN or Inf")
    seconds = signal.size / rate
    if max_seconds is not None and seconds > max_seconds:
        raise TooLongError(f"{uri}: longer than the {max_seconds:g} s limit per utterance "
                           "(--max-seconds; memory grows with length); cut it into spans or "
                           "raise the limit")
    _check_length(uri, seconds, start, end)
    return signal, rate


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)  # ffmpeg parses -ss and -t to microseconds


def _in_process(uri: str, start: float | None, end: float | None, sample_rate: int | None,
                max_seconds: float | None) -> tuple[np.ndarray, int] | None:
    """(signal, rate) read by soundfile, or None where ffmpeg must do it."""
    if not uri.lower().endswith(IN_PROCESS):
        return None
    import soundfile as sf

    try:
        with fsspec.open(uri, "rb") as fh:
            if uri.lower().endswith(".wav") and _wav_short(fh):
                return None  # ffmpeg says it is corrupt; libsndfile would read what is there
            fh.seek(0)
            found = _read(sf.SoundFile(fh), start, end, max_seconds)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
        return None  # let ffmpeg try, and say what is wrong if it cannot either
    if found is None:
        return None
    frames, rate = found
    signal = (frames[:, 0] if frames.shape[1] == 1
              else frames[:, 0] * _DOWNMIX + frames[:, 1] * _DOWNMIX)
    if sample_rate and sample_rate != rate and signal.size:
        import soxr

        signal = soxr.resample(signal, rate, sample_rate, quality="HQ").astype(np.float32)
        rate = sample_rate
    return np.ascontiguousarray(signal, np.float32), rate


def _read(f: Any, start: float | None, end: float | None, max_seconds: float | None
          ) -> tuple[np.ndarray, int] | None:
    """The span's frames (frames x channels) of a soundfile.SoundFile and its rate; None for
    more than two channels (ffmpeg's downmix matrices for surround are its own)."""
    with f:
        if f.channels > 2:
            return None
        rate = f.samplerate
        first = round(_us(start or 0.0) * rate / 1_000_000)
        count = (round(_us(end - (start or 0.0)) * rate / 1_000_000) if end is not None
                 else max(f.frames - first, 0))
        if max_seconds is not None:  # bounded like ffmpeg's -t: just past the limit
            count = min(count, math.ceil((max_seconds + 0.05) * rate))
        if first >= f.frames:
            return np.zeros((0, f.channels), np.float32), rate
        f.seek(first)
        return f.read(count, dtype="float32", always_2d=True), rate


def _wav_short(fh: BinaryIO) -> bool:
    """A WAV whose data chunk claims more bytes than the file holds (an interrupted copy)."""
    fh.seek(0, 2)
    total = fh.tell()
    fh.seek(0)
    head = fh.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    pos = 12
    while pos + 8 <= total:
        fh.seek(pos)
        chunk, size = fh.read(4), struct.unpack("<I", fh.read(4))[0]
        if chunk == b"data":
            return size != 0xFFFFFFFF and pos + 8 + size > total  # 0xFFFFFFFF: streamed
        pos += 8 + size + (size & 1)
    return False


# Containers whose demuxer stops quietly at a cut inside the media data: a file truncated at a
# packet boundary decodes without an error (sometimes not even a "partial file" warning), just
# shorter. Their stated audio duration is checked against what was decoded.
STATED_DURATION_EXT = (".mp4", ".m4a", ".mov", ".3gp", ".m4v")


def _check_length(uri: str, decoded: float, start: float | None, end: float | None) -> None:
    if not (is_local(uri) and uri.lower().endswith(STATED_DURATION_EXT)):
        return
    try:
        probe = ffmpeg.probe(plain_path(uri), select_streams="a:0")
        stated = float(probe["streams"][0]["duration"])
    except (ffmpeg.Error, KeyError, IndexError, ValueError):
        return  # no stated duration to check against
    begin = start or 0.0
    expected = (min(end, stated) if end is not None else stated) - begin
    if decoded < expected - max(0.05, 0.01 * expected):
        raise DecodeError(f"{uri}: truncated: decoded {decoded:.2f} s of audio where the "
                          f"container states {expected:.2f} s for this span")


def _wav_payload(uri: str, data: bytes) -> tuple[int, memoryview]:
    """Sample rate and sample bytes of the float32 WAV ffmpeg streamed (its size fields are
    placeholders on a pipe, so the data chunk is taken to the end)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DecodeError(f"{uri}: expected a WAV stream from ffmpeg, got {data[:12]!r}")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            rate = struct.unpack("<I", data[pos + 12 : pos + 16])[0]
        elif chunk == b"data":
            if rate is None:
                break
            end = len(data) - (len(data) - pos - 8) % 4  # whole float32 samples only
            return rate, memoryview(data)[pos + 8 : end]
        pos += 8 + size + (size & 1)
    raise DecodeError(f"{uri}: expected fmt and data chunks in ffmpeg's WAV stream")
