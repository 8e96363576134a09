"""Self-supervised speech features from any Hugging Face audio encoder (wav2vec2, HuBERT, WavLM,
data2vec-audio) by model id or local path, resolved from the user's cache: nothing downloads.

Outputs, on the utterance timeline: frame-level features every 20 ms (the encoders' stride),
from the last layer and averaged over all hidden states, with each frame's start time; and
their utterance means. Long inputs are cut into chunks with context on both sides; only each
chunk's central frames are kept, so no frame is computed at an artificial edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mer_etl.extractors.base import Extractor, FrameSeries, Resources, Skip, local_model

STRIDE = 320  # samples between frames at 16 kHz (20 ms) for these encoders
RECEPTIVE = 400  # samples one frame sees (25 ms)


class Wav2VecExtractor(Extractor):
    name = "wav2vec"
    device_sensitive = True
    version = "1"
    default_config: ClassVar[dict[str, Any]] = {
        "model": "facebook/wav2vec2-base",  # HF id (from the local cache) or a directory
        "frames": True,  # keep frame-level features (about 150 kB/s at 768 dims in float32)
        "dtype": "float32",  # storage type: float32 or float16
        "chunk_s": 30.0,  # longer inputs are processed in chunks of this length ...
        "context_s": 2.0,  # ... with this much audio on each side for context
        "layers": [],  # hidden-state indices also kept on their own (0: the CNN features)
    }

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        super().__init__(device, **config)
        if self.config["dtype"] not in ("float32", "float16"):
            raise ValueError(f"wav2vec: dtype must be float32 or float16, got "
                             f"{self.config['dtype']!r}")
        if not all(isinstance(i, int) for i in self.config["layers"]):
            raise ValueError(f"wav2vec: layers must be hidden-state indices, got "
                             f"{self.config['layers']!r}")
        self._path = self._resolve()
        self._model = None

    def _resolve(self) -> Path:
        ref = str(self.config["model"])
        return local_model(ref, "wav2vec: model", f"download it once with `huggingface-cli "
                           f"download {ref}` or pass a local path as model")

    def resources(self) -> Resources:
        gpu = self.device.startswith("cuda")
        return Resources(num_cpus=1.0, num_gpus=1.0 if gpu else 0.0, memory_mb=2048)

    def model_files(self) -> list[Path]:
        return sorted(p for p in self._path.iterdir()
                      if p.suffix in (".json", ".safetensors", ".bin") and p.is_file())

    def frame_series(self) -> list[FrameSeries]:
        if not self.config["frames"]:
            return []
        return [FrameSeries("frame_times", RECEPTIVE / 16_000,
                            {"frames_last": "wav2vec_last", "frames_mean": "wav2vec_mean"})]

    def setup(self) -> None:
        import torch
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

        self._torch = torch
        self._model = AutoModel.from_pretrained(self._path, local_files_only=True).eval()
        self._model.to(self.device)
        try:
            fe = AutoFeatureExtractor.from_pretrained(self._path, local_files_only=True)
            self._normalize = bool(getattr(fe, "do_normalize", False))
        except (OSError, ValueError):  # no preprocessor_config.json: follow the model config
            self._normalize = bool(getattr(AutoConfig.from_pretrained(self._path),
                                           "feat_extract_norm", "") == "layer")

    def describe(self) -> dict[str, Any]:
        return {"frame_step_s": STRIDE / 16_000, "frame_window_s": RECEPTIVE / 16_000,
                "model_dir": str(self._path)}

    def schema(self) -> pa.Schema:
        vec = pa.list_(pa.float32())
        fields = [pa.field("utt_id", pa.string(), nullable=False)]
        fields += [pa.field(f"pooled_{n}", vec) for n in self._outputs()]
        if self.config["frames"]:
            fields += [pa.field(f"frames_{n}", pa.list_(vec)) for n in self._outputs()]
            fields.append(pa.field("frame_times", vec))
        return pa.schema(fields)

    def _outputs(self) -> list[str]:
        """Names of the frame streams: last layer, mean of all layers, chosen layers."""
        return ["last", "mean", *(f"layer{i}" for i in self.config["layers"])]

    def _encode(self, x: np.ndarray) -> list[np.ndarray]:
        """Frames (frames x dims) of every output stream for one window."""
        torch = self._torch
        if self._normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        with torch.inference_mode():
            out = self._model(torch.from_numpy(x)[None].to(self.device),
                              output_hidden_states=True)
        hidden = torch.stack(out.hidden_states)[:, 0]  # layers x frames x dims
        if any(not -len(hidden) <= i < len(hidden) for i in self.config["layers"]):
            raise ValueError(f"wav2vec: layers {self.config['layers']} outside the model's "
                             f"{len(hidden)} hidden states")
        streams = [hidden[-1], hidden.mean(0), *(hidden[i] for i in self.config["layers"])]
        return [h.float().cpu().numpy() for h in streams]

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        if sample_rate != 16_000:
            raise ValueError(f"wav2vec encoders take 16 kHz audio, got {sample_rate} Hz")
        if signal.size < RECEPTIVE:
            raise Skip(f"too short: {signal.size / sample_rate:.3f} s < one 25 ms frame")
        n_frames = (signal.size - RECEPTIVE) // STRIDE + 1
        chunk = max(STRIDE, int(self.config["chunk_s"] * sample_rate) // STRIDE * STRIDE)
        context = int(self.config["context_s"] * sample_rate) // STRIDE * STRIDE
        pieces: list[list[np.ndarray]] = [[] for _ in self._outputs()]
        for start in range(0, n_frames * STRIDE, chunk):
            lo = max(0, start - context)
            hi = min(signal.size, start + chunk + context + RECEPTIVE - STRIDE)
            first = (start - lo) // STRIDE  # frames of the left context are dropped
            keep = min(chunk // STRIDE, n_frames - start // STRIDE)
            for stream, frames in zip(pieces, self._encode(signal[lo:hi]), strict=True):
                stream.append(frames[first : first + keep])
        dtype = np.float16 if self.config["dtype"] == "float16" else np.float32
        out = {}
        for name, stream in zip(self._outputs(), pieces, strict=True):
            frames = np.concatenate(stream)
            out[f"pooled_{name}"] = frames.mean(0).astype(dtype)
            if self.config["frames"]:
                out[f"frames_{name}"] = frames.astype(dtype)
        if self.config["frames"]:
            out["frame_times"] = (np.arange(n_frames) * STRIDE / sample_rate).astype(np.float32)
        return out

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {k: v.astype(np.float32).tolist() for k, v in arrays.items()}
