"""Generators for test media: real audio files, written with the tools a user's data comes from."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float = 1.0, sample_rate: int = 48_000,
              freq: float = 220.0, channels: int = 1) -> Path:
    """A 16-bit PCM WAV holding a vibrato tone (voiced enough for pitch trackers)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = freq * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    signal = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sample_rate)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    pcm = np.repeat(pcm[:, None], channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return path


def truncate(path: Path, keep: float = 0.3) -> Path:
    """Cut a file to its first `keep` share of bytes, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
