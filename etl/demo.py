"""The demo corpus: espeak-ng speech over real face photos, laid out exactly like RAVDESS.

Six actors (01, 02 train; 21, 22 validation; 23, 24 test) each perform four of the eight
RAVDESS emotions, which rotate so every emotion appears three times. Each performance is an
audio-only WAV (03-01-...) at 48 kHz, as RAVDESS ships, plus a full-AV MP4 (01-01-...) showing a
photo from insightface's wheel. Emotions are suggested by speaking rate, pitch and loudness.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

import ffmpeg

ACTORS = ["01", "02", "21", "22", "23", "24"]
PER_ACTOR = 4
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
# emotion code -> (words per minute, pitch 0-99, amplitude 0-200)
PROSODY = {
    "01": (165, 50, 100), "02": (145, 45, 90), "03": (190, 70, 130), "04": (125, 35, 80),
    "05": (200, 60, 180), "06": (215, 78, 120), "07": (140, 40, 110), "08": (180, 85, 140),
}
MALE_VOICES = ["en-us+m1", "en-us+m3", "en-gb+m2"]
FEMALE_VOICES = ["en-us+f1", "en-us+f3", "en-gb+f2"]


def face_photos() -> list[Path]:
    """The real photos insightface's wheel ships (found without importing insightface)."""
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("insightface is not installed; its wheel provides the demo's photos "
                           "(run `make install`)")
    images = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    photos = [images / "Tom_Hanks_54745.png", images / "t1.jpg"]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        raise RuntimeError(f"expected insightface's photos at {', '.join(missing)}")
    return photos


def performances() -> list[tuple[str, str, str, str]]:
    """(actor, emotion, intensity, statement) for every demo clip, in a fixed order."""
    out = []
    for a, actor in enumerate(ACTORS):
        for j in range(PER_ACTOR):
            emotion = f"{(a * PER_ACTOR + j) % 8 + 1:02d}"
            intensity = "01" if emotion == "01" or j % 2 == 0 else "02"
            out.append((actor, emotion, intensity, f"{j % 2 + 1:02d}"))
    return out


def _speak(text: str, voice: str, prosody: tuple[int, int, int], wav: Path) -> None:
    rate, pitch, amp = prosody
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch),
                        "-a", str(amp), "-w", str(raw), text], check=True, capture_output=True)
        # RAVDESS audio is 48 kHz 16-bit; 0.3 s of silence either side like a real take.
        subprocess.run(["sox", str(raw), "-r", "48000", "-b", "16", str(wav),
                        "pad", "0.3", "0.3"], check=True, capture_output=True)


def _video(photo: Path, wav: Path, mp4: Path) -> None:
    image = ffmpeg.input(str(photo), loop=1, framerate=30)
    audio = ffmpeg.input(str(wav))
    (
        ffmpeg.output(image.video.filter("scale", 640, -2), audio.audio, str(mp4),
                      vcodec="libx264", preset="ultrafast", pix_fmt="yuv420p", acodec="aac",
                      ar=48000, shortest=None, movflags="+faststart")
        .global_args("-nostdin", "-v", "error")
        .overwrite_output()
        .run(capture_stdout=True, capture_stderr=True)
    )


def many_performances(n: int) -> list[tuple[str, str, str, str]]:
    """n speech performances in RAVDESS's own enumeration (actor by actor, every code)."""
    out = []
    for actor in range(1, 25):
        for emotion in PROSODY:
            for intensity in ("01", "02"):
                if emotion == "01" and intensity == "02":
                    continue
                for statement in STATEMENTS:
                    out.append((f"{actor:02d}", emotion, intensity, statement))
                    if len(out) == n:
                        return out
    raise ValueError(f"at most {len(out)} speech performances with repetition 01")


def generate(root: Path, clips: list[tuple[str, str, str, str]] | None = None,
             video: bool = True) -> list[Path]:
    """Write the demo corpus under root (skipping files already there); return its files.

    `clips` overrides the demo's 24 performances (benchmarks use `many_performances`);
    without video only the audio-only WAVs are written.
    """
    photos = face_photos() if video else []
    files = []
    for actor, emotion, intensity, statement in clips or performances():
        folder = root / f"Actor_{actor}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"01-{emotion}-{intensity}-{statement}-01-{actor}"
        wav, mp4 = folder / f"03-{stem}.wav", folder / f"01-{stem}.mp4"
        male = int(actor) % 2 == 1
        voices = MALE_VOICES if male else FEMALE_VOICES
        # Written under a temporary name and renamed, so an interrupted run leaves no half file.
        if not wav.exists():
            tmp = wav.with_suffix(".part.wav")
            _speak(STATEMENTS[statement], voices[int(actor) % len(voices)], PROSODY[emotion], tmp)
            tmp.rename(wav)
        files.append(wav)
        if not video:
            continue
        if not mp4.exists():
            tmp = mp4.with_suffix(".part.mp4")
            _video(photos[0] if male else photos[1], wav, tmp)
            tmp.rename(mp4)
        files.append(mp4)
    return files
