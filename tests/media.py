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


def write_speech(path: Path, text: str, sample_rate: int = 16_000, channels: int = 1,
                 voice: str = "en-us", effects: tuple[str, ...] = ()) -> Path:
    """Real synthetic speech: espeak-ng's voice, converted by sox (rate, channels, effects)."""
    import subprocess
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-b", "16", "-r", str(sample_rate), "-c",
                        str(channels), str(path), *effects], check=True)
    return path


def write_video(path: Path, source: str | Path | None = None, seconds: float = 2.0,
                filters: str = "", width: int = 1280, audio: bool | Path = False) -> Path:
    """An H.264 MP4 made by ffmpeg from a photo (or black frames when source is None),
    optionally with filters (pan, noise, stacking) and a tone (or a WAV file: `audio`) as its
    audio track."""
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        inputs = ["-f", "lavfi", "-i", f"color=c=black:s={width}x720:r=25"]
    else:
        inputs = ["-loop", "1", "-framerate", "25", "-i", str(source)]
    if isinstance(audio, Path):
        inputs += ["-i", str(audio)]
    elif audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000"]
    chain = ",".join(f for f in (filters, f"scale={width}:-2", "format=yuv420p") if f)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-t", str(seconds),
                    "-vf", chain, "-c:v", "libx264", "-preset", "ultrafast",
                    *(["-c:a", "aac", "-shortest"] if audio else []), str(path)], check=True)
    return path
