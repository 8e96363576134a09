"""One typed row builder for every adapter: an adapter says what it found in its corpus's own
terms (native id, native speaker, native label code, the media paths); the builder applies the
conventions every corpus shares, written once: ids and speakers prefixed with the corpus name,
the corpus's language from its data (schemas/labels/<version>.toml), labels and dimensions
through the one label mapper. `jobs.base.manifest_table` turns rows into the manifest."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from mer_etl.jobs.agreement import entropy, soft_label
from mer_etl.schemas.labels import LabelSchema, rescale


@dataclass
class Row:
    """One utterance as an adapter found it (MANIFEST_SCHEMA's columns, plus the media paths
    that `jobs.base.hash_media` turns into URIs and sha256 digests)."""

    utt_id: str
    corpus: str
    audio_path: str | None = None
    video_path: str | None = None
    speaker: str | None = None
    gender: str | None = None
    language: str | None = None
    split: str | None = None
    fold: int | None = None
    start: float | None = None
    end: float | None = None
    video_start: float | None = None
    video_end: float | None = None
    video_region: str | None = None
    transcript: str | None = None
    label_native: str | None = None
    label_native_name: str | None = None
    label: str | None = None
    label_status: str = "unlabeled"
    intensity_native: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    valence_native: float | None = None
    arousal_native: float | None = None
    dominance_native: float | None = None
    vad_native_min: float | None = None
    vad_native_max: float | None = None
    sentiment: float | None = None
    sentiment_native: str | None = None
    soft_label: list[dict[str, Any]] | None = None
    label_entropy: float | None = None
    label_by_modality: list[dict[str, Any]] | None = None
    soft_label_all: list[dict[str, Any]] | None = None
    label_set: list[str] | None = None
    label_compound: list[str] | None = None
    open_vocab: list[str] | None = None
    open_vocab_canonical: list[str] | None = None
    descriptions: list[dict[str, Any]] | None = None
    caption: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    # set by hash_media once the media is read
    audio_uri: str | None = None
    audio_sha256: str | None = None
    video_uri: str | None = None
    video_sha256: str | None = None

    def manifest(self) -> dict[str, Any]:
        """Column -> value (shallow: the row is not used after it becomes the manifest)."""
        return {f.name: getattr(self, f.name) for f in ROW_FIELDS}


ROW_FIELDS = fields(Row)
ROW_NAMES = {f.name for f in ROW_FIELDS}


class RowBuilder:
    """Rows of one corpus."""

    def __init__(self, corpus: str, labels: LabelSchema) -> None:
        self.corpus, self.labels = corpus, labels
        facts = labels.corpora.get(corpus, {})  # custom corpora bring their own facts
        self.language = facts.get("language")

    def utt_id(self, native: str) -> str:
        """The corpus's utterance id for a native id (ratings and rows share it)."""
        return f"{self.corpus}_{native}"

    def row(self, native_id: str, *, audio: str | None = None, video: str | None = None,
            speaker: str | None = None, code: str | None = None, label_table: str = "labels",
            vad: tuple[float | None, float | None, float | None] | None = None,
            **columns: Any) -> Row:
        """A row for `native_id`. `speaker` is the native speaker id, `code` the native
        label code (mapped through `label_table` of the corpus's label section, raising
        UnknownLabelError with the valid codes), `vad` native dimensional ratings (kept, and
        rescaled to [-1, 1] with the corpus's declared range); any other manifest column is
        given by name."""
        row = Row(utt_id=self.utt_id(native_id), corpus=self.corpus, audio_path=audio,
                  video_path=video, language=self.language,
                  speaker=None if speaker is None else f"{self.corpus}_{speaker}")
        if code is not None:
            self.set_label(row, code, label_table)
        if vad is not None and any(v is not None for v in vad):
            self.set_vad(row, *vad)
        for name, value in columns.items():
            if name not in ROW_NAMES:
                raise TypeError(f"{self.corpus}: no manifest column {name!r}")
            setattr(row, name, value)
        if row.soft_label and row.label_entropy is None:
            row.label_entropy = entropy(row.soft_label, self.vote_classes)
        if row.open_vocab and row.open_vocab_canonical is None:
            row.open_vocab_canonical = self.labels.normalise_all(row.open_vocab)
        return row

    @cached_property
    def vote_classes(self) -> int:
        """How many canonical classes the raters chose from (the corpus's vote table, else its
        label table): what an entropy is normalised by."""
        section = self.labels.corpora.get(self.corpus, {})
        table = section.get("votes") or section.get("labels") or {}
        return len({e.get("canonical") for e in table.values() if e.get("canonical")})

    def by_modality(self, modality: str, weights: dict[str, float] | None = None,
                    sentiment: float | None = None) -> dict[str, Any]:
        """One `label_by_modality` entry: from vote counts per canonical class (the plurality
        class is the label, none on a tie) and/or a sentiment in [-1, 1]."""
        soft = soft_label(weights or {}, self.labels)
        top = max((weights or {}).values(), default=0)
        winners = [c for c, n in (weights or {}).items() if n == top and top > 0]
        return {"modality": modality, "label": winners[0] if len(winners) == 1 else None,
                "label_native": None, "soft_label": soft,
                "n_votes": int(sum((weights or {}).values())) or None,
                "entropy": entropy(soft, self.vote_classes), "sentiment": sentiment}

    def set_label(self, row: Row, code: str, table: str = "labels") -> None:
        m = self.labels.map_label(self.corpus, code, table)
        row.label_native, row.label_native_name = code, m.native_name
        row.label, row.label_status = m.canonical, m.status
        if m.compound:  # a compound expression: its two basic classes, and both in the set
            row.label_compound = list(m.compound)
            row.label_set = row.label_set or list(m.compound)

    def set_vad(self, row: Row, valence: float | None, arousal: float | None,
                dominance: float | None) -> None:
        """Dimensional columns: native values and range kept, rescaled copies in [-1, 1]."""
        ranges = self.labels.corpus(self.corpus).get("dimensions", {})  # MER2023: valence only
        row.vad_native_min, row.vad_native_max = self.labels.dimension_range(self.corpus,
                                                                             "valence")
        for dim, value in (("valence", valence), ("arousal", arousal),
                           ("dominance", dominance)):
            setattr(row, f"{dim}_native", value)
            if value is not None or dim in ranges:
                setattr(row, dim, rescale(value, *self.labels.dimension_range(self.corpus, dim)))
