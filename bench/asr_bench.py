"""ASR's encoder window (`asr.window_s`) against whisper's own 30 s: speed and word error rate
on speech whose words are known. 40 Harvard sentences (single clips, 2-5 s) and 8 clips of 4-6
of them (12-20 s), spoken by espeak-ng in six voices at four speeds, 16 kHz through sox
(-R: the same dither on every run); tiny.en int8 on one core. Also how far word times move
where both windows give the same words.

Writes bench/asr-results.md. Run with `make bench-asr`.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.extractor_bench import _wer, cpu_name

HARVARD = """The birch canoe slid on the smooth planks.
Glue the sheet to the dark blue background.
It's easy to tell the depth of a well.
These days a chicken leg is a rare dish.
Rice is often served in round bowls.
The juice of lemons makes fine punch.
The box was thrown beside the parked truck.
The hogs were fed chopped corn and garbage.
Four hours of steady work faced us.
A large size in stockings is hard to sell.
The boy was there when the sun rose.
A rod is used to catch pink salmon.
The source of the huge river is the clear spring.
Kick the ball straight and follow through.
Help the woman get back to her feet.
A pot of tea helps to pass the evening.
Smoky fires lack flame and heat.
The soft cushion broke the man's fall.
The salt breeze came across from the sea.
The girl at the booth sold fifty bonds.
The small pup gnawed a hole in the sock.
The fish twisted and turned on the bent hook.
Press the pants and sew a button on the vest.
The swan dive was far short of perfect.
The beauty of the view stunned the young boy.
Two blue fish swam in the tank.
Her purse was full of useless trash.
The colt reared and threw the tall rider.
It snowed, rained, and hailed the same morning.
Read verse out loud for pleasure.
Hoist the load to your left shoulder.
Take the winding path to reach the lake.
Note closely the size of the gas tank.
Wipe the grease off his dirty face.
Mend the coat before you go out.
The wrist was badly strained and hung limp.
The stray cat gave birth to kittens.
The young girl gave no clear response.
The meal was cooked before the bell rang.
What joy there is in living.""".splitlines()
VOICES = ["en-us", "en", "en-gb-scotland", "en-us+f3", "en+m3", "en-gb-x-rp"]
WINDOWS = [30, 15, 10]


def corpus(root: Path) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (16 kHz mono signal, the text it says); the same clips on every run (seeded)."""
    import soundfile as sf

    rng = random.Random(7)
    items = [(f"s{i:02d}", [s], VOICES[i % len(VOICES)], rng.choice([140, 160, 175, 190]))
             for i, s in enumerate(HARVARD)]
    items += [(f"l{j:02d}", rng.sample(HARVARD, rng.randint(4, 6)), VOICES[j % len(VOICES)],
               165) for j in range(8)]
    out = {}
    for name, lines, voice, speed in items:
        raw, wav = root / f"{name}_raw.wav", root / f"{name}.wav"
        text = " ".join(lines)
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
                       check=True)
        subprocess.run(["sox", "-V1", "-R", str(raw), "-r", "16000", "-c", "1", str(wav),
                        "pad", "0.3", "0.4"], check=True)
        out[name] = (sf.read(str(wav), dtype="float32")[0], text)
    return out


def main() -> None:
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # one core, as one Ray actor
    import torch

    torch.set_num_threads(1)
    from mer_etl.extractors import build

    with tempfile.TemporaryDirectory() as tmp:
        clips = corpus(Path(tmp))
    media = sum(s.size for s, _ in clips.values()) / 16_000
    rows, words = [], {}
    for window in WINDOWS:
        ex = build("asr", window_s=window)
        ex.setup()
        texts = {}
        t0 = time.perf_counter()
        for name, (signal, _) in clips.items():
            out = ex.extract(signal, 16_000)
            texts[name] = str(out["text"])
            words[window, name] = (out["word"].tolist(), out["word_start"], out["word_end"])
        busy = time.perf_counter() - t0
        wer = {kind: _wer([clips[n][1] for n in clips if n[0] == kind],
                          [texts[n] for n in clips if n[0] == kind]) for kind in "sl"}
        rows.append((window, busy, wer))
        print(window, round(media / busy, 2), wer, flush=True)
    lines = [
        "# ASR encoder window against whisper's 30 s",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d}. Reproduce: `make bench-asr`.",
        "",
        f"Speech: {sum(n[0] == 's' for n in clips)} Harvard sentences (one clip each) and "
        f"{sum(n[0] == 'l' for n in clips)} clips of 4-6 of them, {media:.0f} s in all, "
        "espeak-ng in six voices; tiny.en int8, one core, beam 5.",
        "",
        "| window_s | busy s | x real time per core | word error rate, sentences | "
        "word error rate, 12-20 s clips | same words as 30 s (clips) | word start moved, "
        "p95 / max (s) |",
        "|---|---|---|---|---|---|---|"]
    for window, busy, wer in rows:
        same, moved = 0, []
        for name in clips:
            w, s, _ = words[window, name]
            w30, s30, _ = words[30, name]
            if w == w30:
                same += 1
                moved += np.abs(np.asarray(s) - np.asarray(s30)).tolist()
        spread = (f"{np.percentile(moved, 95):.3f} / {max(moved):.3f}"
                  if moved and window != 30 else "-")
        lines.append(f"| {window} | {busy:.2f} | {media / busy:.2f} | {wer['s']:.3f} | "
                     f"{wer['l']:.3f} | {same} of {len(clips)} | {spread} |")
    Path("bench/asr-results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
