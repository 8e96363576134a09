"""ffmpeg decoding to 16 kHz mono float32, on real files of the kinds corpora ship."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from mer_etl.media.audio import DecodeError, decode_audio
from tests.media import truncate, write_wav


def test_48k_stereo_wav_becomes_16k_mono(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=2.0, sample_rate=48_000, channels=2)
    signal = decode_audio(str(wav))
    assert signal.dtype == np.float32
    assert abs(signal.size - 32_000) <= 16
    assert 0.1 < np.abs(signal).max() <= 1.0


def test_span_is_cut_from_the_media(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=3.0, sample_rate=16_000)
    signal = decode_audio(str(wav), start=1.0, end=1.5)
    assert abs(signal.size - 8_000) <= 16


def test_audio_from_mp4(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=1.0)
    mp4 = tmp_path / "a.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x64:d=1",
                    "-i", str(wav), "-shortest", "-c:v", "libx264", "-c:a", "aac", str(mp4)],
                   check=True)
    assert abs(decode_audio(str(mp4)).size - 16_000) < 1_600


def test_empty_file_names_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"empty\.wav: ffmpeg could not decode audio"):
        decode_audio(str(empty))


def test_truncated_wav_is_an_error_not_a_short_signal(tmp_path):
    wav = truncate(write_wav(tmp_path / "cut.wav", seconds=2.0))
    with pytest.raises(DecodeError, match=r"cut\.wav: .*corrupt"):
        decode_audio(str(wav))


def test_video_without_audio_says_so(tmp_path):
    mp4 = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x64:d=1",
                    "-c:v", "libx264", str(mp4)], check=True)
    with pytest.raises(DecodeError, match=r"silent\.mp4"):
        decode_audio(str(mp4))


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DecodeError, match=r"nothere\.wav"):
        decode_audio(str(tmp_path / "nothere.wav"))
