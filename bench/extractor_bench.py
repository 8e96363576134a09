"""Per-extractor throughput and memory on the demo corpus, one core each.

Every extractor runs in its own process (so its peak memory is its own), pinned to one thread,
over the demo corpus's utterances: set-up time, x real time per core (media seconds / busy
seconds), peak RSS, and bytes stored per hour of media (the packed arrays the shards hold).
Faces report frames/s per core too; ASR its word error rate against the lines the demo's
speech was synthesised from. wav2vec has no offline weights: it runs a randomly
initialised model of wav2vec2-base's exact architecture (95M parameters), saved and loaded
through the same path a user's `facebook/wav2vec2-base` takes, so its cost is the real one.

`make bench-audio` (audio extractors) and `make bench-faces` write bench/<group>-results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

GROUPS = {
    "audio": [("egemaps", {}), ("egemaps", {"sample_rate": 16_000}), ("audio_stats", {}),
              ("asr", {}), ("asr", {"window_s": 30}), ("asr", {"window_s": 15}),
              ("asr", {"pack": 8}), ("asr", {"utterances": 8}),
              ("wav2vec", {"frames": True}),
              ("wav2vec", {"dtype": "float16"})],
    "faces": [("faces", {"backend": "dlib", "redetect_every": 1, "embed_every": 1}),
              ("faces", {"backend": "dlib"}), ("faces", {"backend": "dlib", "upsample": 0}),
              ("faces", {"backend": "dlib", "redetect_every": 10, "embed_every": 10})],
}


def _one(name: str, config: dict, root: Path) -> dict:
    """Runs in a child process: decode everything, then time set-up and extraction."""
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    import torch

    torch.set_num_threads(1)
    from mer_etl import extractors
    from mer_etl.jobs import build_manifest
    from mer_etl.media.arrays import pack
    from mer_etl.media.audio import decode_audio_at

    rows = build_manifest("ravdess", str(root)).table.to_pylist()
    ex = extractors.build(name, **config)
    inputs, media_s = [], 0.0
    for r in rows:
        if ex.modality == "video":
            inputs.append((r["video_uri"], r["video_start"], r["video_end"],
                           r.get("video_region")))
            media_s += float(decode_audio_at(r["audio_uri"])[0].size) / 16_000
        else:
            signal, sr = decode_audio_at(r["audio_uri"], r["start"], r["end"], ex.input_rate())
            inputs.append((signal, sr))
            media_s += signal.size / sr
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    ex.setup()
    setup_s = time.perf_counter() - t0
    stored, frames, texts = 0, 0, []
    t0 = time.perf_counter()
    step = ex.batch_size()  # extractors that batch (asr pack, wav2vec batch) get batches
    for k in range(0, len(inputs), step):
        for out in (ex.extract_many(inputs[k:k + step]) if step > 1
                    else [ex.extract(*inputs[k])]):
            if isinstance(out, Exception):
                raise out
            stored += len(pack(out))
            frames += len(out.get("frame_times", [])) if ex.modality == "video" else 0
            texts.append(str(out["text"]) if "text" in out else "")
    busy = time.perf_counter() - t0
    return {"extractor": name, "config": config, "utterances": len(inputs),
            "media_s": round(media_s, 1), "setup_s": round(setup_s, 2),
            "busy_s": round(busy, 2), "x_real_time": round(media_s / busy, 2),
            "frames_per_s": round(frames / busy, 2) if frames else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_before_setup_mib": round(base_rss),
            "mb_per_hour": round(stored / media_s * 3600 / 1e6, 1),
            # ASR: word error rate against the lines the demo's speech was made from
            "wer": round(_wer([r["transcript"] for r in rows], texts), 3)
            if name == "asr" else None}


def _wer(refs: list[str], hyps: list[str]) -> float:
    import re

    import jiwer

    def words(s: str) -> str:
        return " ".join(re.sub(r"[^a-z' ]", " ", s.lower()).split())

    return float(jiwer.wer([words(r) for r in refs], [words(h) for h in hyps]))


def _wav2vec_base(tmp: Path) -> str:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    path = tmp / "wav2vec2-base-architecture"
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(path)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("group", choices=sorted(GROUPS))
    ap.add_argument("--root", default="demo/RAVDESS")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        name, config = json.loads(args.child)
        print(json.dumps(_one(name, config, Path(args.root))))
        return
    from mer_etl.demo import generate

    files = generate(Path(args.root))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in GROUPS[args.group]:
            if name == "wav2vec":
                config = {**config, "model": _wav2vec_base(Path(tmp))}
            proc = subprocess.run([sys.executable, "-m", "bench.extractor_bench", args.group,
                                   "--root", args.root, "--child", json.dumps([name, config])],
                                  capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    write(args.group, results, len(files))


def cpu_name() -> str:
    """The CPU's model name with its family, model and widest vector extension (Linux
    /proc/cpuinfo), else what platform knows. A virtual machine's model name can be as bare as
    "AMD EPYC" for hosts whose per-core speed differs 2-3x (CTranslate2's int8 with and
    without AVX-512), so the rest is what tells two results files' machines apart."""
    try:
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())  # the first processor's
    except OSError:
        return platform.processor()
    name = info.get("model name") or platform.processor()
    if "cpu family" not in info:
        return name
    flags = info.get("flags", "").split()
    vector = next((f.upper() for f in ("avx512f", "avx2", "avx") if f in flags), "no AVX")
    return f"{name} (family {info['cpu family']} model {info.get('model', '?')}, {vector})"


def write(group: str, results: list[dict], n_files: int) -> None:
    cpu = cpu_name()
    lines = [f"# {group} extractors, one core each, on the demo corpus",
             "",
             f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"{datetime.now(UTC):%Y-%m-%d}. Demo corpus: {n_files} files. "
             f"Reproduce: `make bench-{group}`.",
             "",
             "| extractor | config | utterances | media s | set-up s | busy s | x real time "
             "per core | frames/s | peak RSS MiB (before set-up) | MB per hour of media | "
             "ASR word error rate |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        config = {k: (Path(v).name if k == "model" else v) for k, v in r["config"].items()}
        lines.append(f"| {r['extractor']} | `{json.dumps(config)}` | {r['utterances']} | "
                     f"{r['media_s']} | {r['setup_s']} | {r['busy_s']} | {r['x_real_time']} | "
                     f"{r['frames_per_s'] or '-'} | {r['peak_rss_mib']} "
                     f"({r['rss_before_setup_mib']}) | {r['mb_per_hour']} | "
                     f"{'-' if r.get('wer') is None else r['wer']} |")
    Path(f"bench/{group}-results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
