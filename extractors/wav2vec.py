"""Self-supervised speech features from any Hugging Face audio encoder (wav2vec2, HuBERT, WavLM,
data2vec-audio) by model id or local path, resolved from the user's cache: nothing downloads.

Outputs, on the utterance timeline: frame-level features every 20 ms (the encoders' stride),
from the last layer and averaged over all hidden states, with each frame's start time; and
their utterance means. Long inputs are cut into chunks with context on both sides; only each
chunk's central frames are kept, so no frame is computed at an artificial edge.

Batching (`batch`: utterances per forward pass; "auto" is 16 on a GPU, 1 on a CPU): inputs are
sorted by length and padded. Models that take an attention mask (layer-norm feature encoders:
wav2vec2-large-lv60, HuBERT-large, WavLM) batch any lengths, within 1e-4 of one utterance at
a time; group-norm models (wav2vec2-base, HuBERT-base) normalise over the whole padded input,
so only equal lengths share a batch and the result is the unbatched one. On a GPU the forward
pass runs in float16 (`precision`: "auto"; "float32" keeps full precision). Batched and GPU
outputs are not bit-identical to one-at-a-time CPU ones: the device is in the fingerprint, and
CPU runs default to one at a time.
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
        "batch": "auto",  # utterances per forward pass: "auto" (16 on cuda, 1 on cpu) or a number
        "precision": "auto",  # "auto": float16 autocast on cuda, float32 on cpu; or "float32"
    }

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        super().__init__(device, **config)
        if self.config["dtype"] not in ("float32", "float16"):
            raise ValueError(f"wav2vec: dtype must be float32 or float16, got "
                             f"{self.config['dtype']!r}")
        if not all(isinstance(i, int) for i in self.config["layers"]):
            raise ValueError(f"wav2vec: layers must be hidden-state indices, got "
                             f"{self.config['layers']!r}")
        batch = self.config["batch"]
        if not (batch == "auto" or (isinstance(batch, int) and batch >= 1)):
            raise ValueError(f"wav2vec: batch must be 'auto' or a positive number, got {batch!r}")
        if self.config["precision"] not in ("auto", "float32"):
            raise ValueError(f"wav2vec: precision must be auto or float32, got "
                             f"{self.config['precision']!r}")
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
        layer_norm = getattr(self._model.config, "feat_extract_norm", "") == "layer"
        try:
            fe = AutoFeatureExtractor.from_pretrained(self._path, local_files_only=True)
            self._normalize = bool(getattr(fe, "do_normalize", False))
            self._masks = bool(getattr(fe, "return_attention_mask", layer_norm))
        except (OSError, ValueError):  # no preprocessor_config.json: follow the model config
            self._normalize = bool(getattr(AutoConfig.from_pretrained(self._path),
                                           "feat_extract_norm", "") == "layer")
            self._masks = layer_norm
        self._half = self.device.startswith("cuda") and self.config["precision"] == "auto"

    def batch_size(self) -> int:
        batch = self.config["batch"]
        return (16 if self.device.startswith("cuda") else 1) if batch == "auto" else int(batch)

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
        return self._encode_many([x])[0]

    def _encode_many(self, xs: list[np.ndarray]) -> list[list[np.ndarray]]:
        """Per window, the frames of every output stream: one forward pass, zero-padded to
        the longest, with an attention mask where the model takes one."""
        torch = self._torch
        if self._normalize:
            xs = [(x - x.mean()) / np.sqrt(x.var() + 1e-7) for x in xs]
        longest = max(x.size for x in xs)
        batch = np.zeros((len(xs), longest), np.float32)
        mask = np.zeros((len(xs), longest), np.int64)
        for i, x in enumerate(xs):
            batch[i, :x.size], mask[i, :x.size] = x, 1
        kwargs = {"attention_mask": torch.from_numpy(mask).to(self.device)} if self._masks \
            else {}
        with torch.inference_mode(), torch.autocast("cuda", torch.float16,
                                                     enabled=self._half):
            out = self._model(torch.from_numpy(batch).to(self.device),
                              output_hidden_states=True, **kwargs)
        hidden = torch.stack(out.hidden_states)  # layers x batch x frames x dims
        if any(not -len(hidden) <= i < len(hidden) for i in self.config["layers"]):
            raise ValueError(f"wav2vec: layers {self.config['layers']} outside the model's "
                             f"{len(hidden)} hidden states")
        streams = [hidden[-1], hidden.mean(0), *(hidden[i] for i in self.config["layers"])]
        arrays = [h.float().cpu().numpy() for h in streams]
        return [[a[i, :(x.size - RECEPTIVE) // STRIDE + 1] for a in arrays]
                for i, x in enumerate(xs)]

    def _check(self, signal: np.ndarray, sample_rate: int) -> None:
        if sample_rate != 16_000:
            raise ValueError(f"wav2vec encoders take 16 kHz audio, got {sample_rate} Hz")
        if signal.size < RECEPTIVE:
            raise Skip(f"too short: {signal.size / sample_rate:.3f} s < one 25 ms frame")

    def extract_many(self, inputs: list[tuple]) -> list[dict[str, np.ndarray] | Exception]:
        """Utterances that fit in one chunk share forward passes of `batch_size()`, sorted by
        length (group-norm models: equal lengths only); longer ones go one at a time."""
        out: list[dict[str, np.ndarray] | Exception | None] = [None] * len(inputs)
        short = []
        for i, (signal, rate) in enumerate(inputs):
            try:
                self._check(signal, rate)
            except Exception as exc:
                out[i] = exc
                continue
            if ((signal.size - RECEPTIVE) // STRIDE + 1) * STRIDE <= self._chunk():  # one window
                short.append(i)
            else:
                out[i] = super().extract_many([inputs[i]])[0]  # chunked, one at a time
        short.sort(key=lambda i: inputs[i][0].size)
        groups: list[list[int]] = []
        for i in short:
            last = groups[-1] if groups else None
            if (last and len(last) < self.batch_size()
                    and (self._masks or inputs[last[0]][0].size == inputs[i][0].size)):
                last.append(i)
            else:
                groups.append([i])
        for group in groups:
            try:
                encoded = self._encode_many([inputs[i][0] for i in group])
                for i, streams in zip(group, encoded, strict=True):
                    out[i] = self._arrays([[s] for s in streams], len(streams[0]))
            except Exception as exc:  # the batch's error is each of its items' outcome
                for i in group:
                    out[i] = exc
        return [r if r is not None else RuntimeError("wav2vec: no result") for r in out]

    def _chunk(self) -> int:
        """Samples per window of a long input (a whole number of frame steps)."""
        return max(STRIDE, int(self.config["chunk_s"] * 16_000) // STRIDE * STRIDE)

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        self._check(signal, sample_rate)
        n_frames = (signal.size - RECEPTIVE) // STRIDE + 1
        chunk = self._chunk()
        context = int(self.config["context_s"] * sample_rate) // STRIDE * STRIDE
        pieces: list[list[np.ndarray]] = [[] for _ in self._outputs()]
        for start in range(0, n_frames * STRIDE, chunk):
            lo = max(0, start - context)
            hi = min(signal.size, start + chunk + context + RECEPTIVE - STRIDE)
            first = (start - lo) // STRIDE  # frames of the left context are dropped
            keep = min(chunk // STRIDE, n_frames - start // STRIDE)
            for stream, frames in zip(pieces, self._encode(signal[lo:hi]), strict=True):
                stream.append(frames[first : first + keep])
        return self._arrays(pieces, n_frames)

    def _arrays(self, pieces: list[list[np.ndarray]], n_frames: int) -> dict[str, np.ndarray]:
        """The outputs from each stream's frame pieces."""
        dtype = np.float16 if self.config["dtype"] == "float16" else np.float32
        out = {}
        for name, stream in zip(self._outputs(), pieces, strict=True):
            frames = np.concatenate(stream)
            out[f"pooled_{name}"] = frames.mean(0).astype(dtype)
            if self.config["frames"]:
                out[f"frames_{name}"] = frames.astype(dtype)
        if self.config["frames"]:
            out["frame_times"] = (np.arange(n_frames) * STRIDE / 16_000).astype(np.float32)
        return out

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {k: v.astype(np.float32) for k, v in arrays.items()}
