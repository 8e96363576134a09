"""The one interface every extractor implements.

An extractor declares what it is (name, version, config, model checksums), what it needs
(resources, modality) and what it produces (an Arrow schema keyed by utt_id, and the arrays that
go into a WebDataset sample). The engine decides placement: it builds the extractor once per
Ray actor, calls `setup()` once, then `extract()` per utterance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mer_etl.media.arrays import npy_bytes
from mer_etl.media.fs import sha256_local


def local_model(ref: str, what: str, hint: str, download: Any = None) -> Path:
    """A model directory: `ref` itself, or its snapshot in the user's Hugging Face cache
    (HF_HOME). Never downloads; when missing, the error says what was looked for and `hint`."""
    if Path(ref).is_dir():
        return Path(ref)
    if download is None:
        from huggingface_hub import snapshot_download as download
    try:
        return Path(download(ref, local_files_only=True))
    except Exception as exc:  # not cached: say where it was looked for and what to do
        raise FileNotFoundError(
            f"{what} {ref!r} is neither a directory nor in the Hugging Face cache (HF_HOME); "
            f"{hint} ({type(exc).__name__})") from None


class Skip(Exception):
    """Raised by `extract` when an utterance is not for this extractor (e.g. too short);
    recorded as status "skipped" with the message as the reason."""


@dataclass(frozen=True)
class Dimension:
    """A predicted affect dimension (valence, arousal, dominance) in a feature column, with
    the scale it is on: the cues view says "high" in its top third and "low" in its bottom."""

    column: str  # feature column: one value per utterance
    low: float  # the scale's ends
    high: float


@dataclass(frozen=True)
class FrameSeries:
    """Frame-level arrays an extractor produces, declared so that views aligned in time (the
    word view) use them without knowing the extractor."""

    times: str  # feature column: each frame's start, in seconds from the utterance start
    window_s: float  # a frame's length: its centre is at times + window_s / 2
    values: dict[str, str]  # feature column (one vector per frame) -> its column in a view


@dataclass(frozen=True)
class ReportItem:
    """One thing the dataset report shows for an extractor, drawn from its feature table by
    the report's renderer for the kind (etl/report.py), so an extractor's module says what is
    worth seeing and never draws it.

    kinds: histogram (of `column`), by_label (a box per canonical label for each of `columns`,
    column -> title), per_corpus (a table per corpus, and per `by` when given: `columns` maps
    a heading to "AGG:VALUE", AGG one of count, sum, mean, zero), gallery (one JPEG of the
    list `column` per corpus and label), timeline (the timed words of `column` for a few
    utterances). A VALUE is a feature column, "1-column", "list.#" (a list's length) or
    "list.field" (the mean of a struct field over a list).
    """

    kind: str
    title: str
    column: str | None = None
    columns: dict[str, str] | None = None
    label: str | None = None  # the axis label
    range: tuple[float, float] | None = None
    by: str | None = None  # per_corpus: a manifest or feature column to split by as well

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.columns:  # pairs: the card's JSON sorts mapping keys, the order is the table's
            out["columns"] = [list(pair) for pair in self.columns.items()]
        return out


@dataclass(frozen=True)
class Resources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int | None = None  # peak per actor, for Ray's scheduler


class Extractor(ABC):
    name: ClassVar[str]
    version: ClassVar[str]  # bump when outputs change for the same input and config
    modality: ClassVar[str] = "audio"  # which decoded stream `extract` receives
    # outputs can differ between CPU and GPU runs (kernels, fp16): the device kind is then part
    # of the fingerprint, so a version never claims a byte-identity it does not have
    device_sensitive: ClassVar[bool] = False
    # Why NaN may appear in an ok output (None: never). The engine fails an utterance whose
    # arrays hold NaN or Inf unless the extractor documents what NaN means here.
    nan_ok: ClassVar[str | None] = None
    default_config: ClassVar[dict[str, Any]] = {}
    # The feature column holding timed words (word, start, end, score), for extractors that
    # transcribe: the word view aligns every declared frame series to these words.
    words: ClassVar[str | None] = None
    # Affect dimensions this extractor predicts (name -> Dimension): the cues view puts them
    # in the prompt ("valence high, arousal low").
    dimensions: ClassVar[dict[str, Dimension]] = {}

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        unknown = set(config) - set(self.default_config)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown config keys {sorted(unknown)}; "
                f"known: {sorted(self.default_config)}"
            )
        self.device = device
        self.config = {**self.default_config, **config}

    def input_rate(self) -> int | None:
        """Sample rate `extract` wants its audio at; None: the media's own rate (no resampling).
        Each distinct rate is decoded once per utterance."""
        return 16_000

    def resources(self) -> Resources:
        return Resources(num_gpus=1.0 if self.device.startswith("cuda") else 0.0)

    def model_files(self) -> list[Path]:
        """Files whose bytes determine the outputs (weights, configs); hashed into the version."""
        return []

    def model_checksums(self) -> dict[str, str]:
        return {path.name: sha256_local(path) for path in sorted(self.model_files())}

    def fingerprint(self) -> dict[str, Any]:
        """Everything about this extractor that the dataset version depends on."""
        out = {
            "name": self.name,
            "version": self.version,
            "config": self.config,
            "models": self.model_checksums(),
        }
        if self.device_sensitive and not self.device.startswith("cpu"):
            out["device"] = self.device.split(":")[0]  # cuda:0 and cuda:1 compute alike
        return out

    @property
    def presents(self) -> str:
        """The modality its features present to a model: "text" for a word source (ASR),
        "visual" for what it reads from video, else "audio" (the loader's modality masks)."""
        return "text" if self.words else "visual" if self.modality == "video" else "audio"

    def describe(self) -> dict[str, Any]:
        """Extra facts for the dataset card (feature names, frame rates); not hashed."""
        return {}

    def frame_series(self) -> list[FrameSeries]:
        """The frame-level outputs this configuration produces (none by default)."""
        return []

    def report(self) -> list[ReportItem]:
        """What the dataset report shows for this extractor (recorded in the card, so the
        report needs neither the extractor nor its models)."""
        return []

    def setup(self) -> None:  # noqa: B027 - optional hook: load models once per actor
        """Load models; called once per worker before the first `extract`."""

    @abstractmethod
    def schema(self) -> pa.Schema:
        """Arrow schema of this extractor's feature table; the first field is utt_id."""

    @abstractmethod
    def extract(self, *inputs: Any) -> dict[str, np.ndarray]:
        """One utterance's features as named arrays (these become the sample's .npy files).

        Audio extractors get (signal, sample_rate): mono float32 at `input_rate()`. Video
        extractors get (video_uri, start, end, region) and decode the frames they need;
        region is the part of the frame the speaker occupies ("left", "right"; None: all)."""

    def batch_size(self) -> int:
        """Utterances per call of `extract_many` (1: the engine calls `extract` on each)."""
        return 1

    def extract_many(self, inputs: list[tuple]) -> list[dict[str, np.ndarray] | Exception]:
        """Several utterances at once (each item what `extract` takes), for extractors whose
        model runs batches (wav2vec on a GPU); an item's exception is its result."""
        out: list[dict[str, np.ndarray] | Exception] = []
        for args in inputs:
            try:
                out.append(self.extract(*args))
            except Exception as exc:
                out.append(exc)
        return out

    def tar_members(self, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
        """The sample's members for these arrays, by suffix after `<extractor>.`: one .npy
        per array (WebDataset's convention); extractors with images add their own."""
        return {f"{field}.npy": npy_bytes(array) for field, array in arrays.items()}

    @abstractmethod
    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """The feature-table row (without utt_id) for the arrays `extract` returned. A list
        column's value may stay a numpy array of the column's nesting depth: the writer
        builds such columns without a Python float per element (etl.media.arrays)."""
