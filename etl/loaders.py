"""PyTorch loading: an IterableDataset over the WebDataset shard groups, a padding collate,
label views, filters, and cross-corpus splits with class weights.

Shards (not samples) are split across DDP ranks and DataLoader workers, so every sample is read
exactly once per epoch; filters look at the base shard's json before any array is decoded.
"""

from __future__ import annotations

import io
import json
import os
import random
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mer_etl.layout import LAYOUT
from mer_etl.read import lazy, lockstep, shard_urls
from mer_etl.schemas.labels import load_label_schema
from mer_etl.store import resolve_dataset

CATEGORICAL_VIEWS = ("canonical", "iemocap4", "ekman7", "ekman6", "valence3")
FILTER_FIELDS = ("corpus", "split", "speaker", "language", "gender")
# what a sample may hold: its media and what the extractors found in them (`present`)
PRESENCE = ("audio", "video", "face", "transcript")
# the modalities features present to a model, the unit `modality_dropout` removes
MODALITIES = ("audio", "visual", "text")
# cards written before extractors recorded what they present
_PRESENTS = {"asr": "text", "faces": "visual"}


def view_classes(view: str, label_version: str = "v1") -> list[str]:
    """The ordered label set of a categorical view (index = class id)."""
    labels = load_label_schema(label_version)
    if view == "canonical":
        return list(labels.classes)
    if view not in labels.views:
        raise KeyError(f"unknown label view {view!r}; known: {', '.join(CATEGORICAL_VIEWS)}")
    return list(dict.fromkeys(labels.views[view].values()))


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class MERDataset(IterableDataset):
    """(features, labels) per utterance from a mer-etl dataset.

    features: `{"<extractor>.<field>": tensor}` for the chosen fields (default: every array of
    the chosen extractors). labels: `label` (class id in `label_view`, -1 when null), `vad`
    (valence, arousal, dominance; NaN when missing) with `vad_mask`, `soft` (distribution over
    the canonical classes), `soft_all` (the same from every rater mention), `label_set` (the
    all-inclusive multi-hot over the view's classes), `sentiment` (NaN when missing), `present`
    (bool per PRESENCE: audio, video, a face found, a transcript), `frame_masks` (per frame:
    `face` where the target face was found, `voiced` where eGeMAPS's F0 is above 0, for the
    features loaded), `modality_mask` (bool per MODALITIES: the sample's features of that
    modality are there and were not dropped), and `utt_id`, `corpus`.

    Missing-modality training: `modality_dropout` (a rate, or a rate per modality) removes a
    whole modality's features (zeros; text becomes empty) and clears its mask;
    `frame_dropout` zeroes random frames of every frame-level array (random modality feature
    missing) and returns the kept frames in `frame_keep`. Both draw from a generator seeded by
    (seed, epoch, utt_id): the same sample gets the same masks in every worker layout and run.

    `label_from` ("audio", "visual", "text", "audiovisual") takes `label`, `soft` and
    `sentiment` from that presentation modality's `label_by_modality` entry instead (none where
    the sample has no such entry, or a tie).
    """

    def __init__(self, path: str, extractors: Sequence[str] | None = None,
                 fields: Sequence[str] | None = None, label_view: str = "canonical",
                 filters: dict[str, str | Sequence[str]] | None = None,
                 require_label: bool = False, skip_failed: bool = True, shuffle: bool = False,
                 seed: int = 0, rank: int | None = None, world_size: int | None = None,
                 modality_dropout: float | dict[str, float] = 0.0,
                 frame_dropout: float = 0.0, label_from: str | None = None) -> None:
        super().__init__()
        store = resolve_dataset(path)
        self.path = store.uri
        card = store.read_card()
        self.extractors = list(card["extractors"]) if extractors is None else list(extractors)
        missing = set(self.extractors) - set(card["extractors"])
        if missing:
            raise KeyError(f"{self.path}: no extractor {sorted(missing)}; "
                           f"has {sorted(card['extractors'])}")
        self.fields = set(fields) if fields else None
        self.view = label_view
        self.classes = view_classes(label_view, "v1")
        self.schema = load_label_schema()
        bad = set(filters or {}) - set(FILTER_FIELDS)
        if bad:
            raise KeyError(f"cannot filter on {sorted(bad)}; filters: {FILTER_FIELDS}")
        self.filters = {k: {v} if isinstance(v, str) else set(v)
                        for k, v in (filters or {}).items()}
        self.require_label, self.skip_failed = require_label, skip_failed
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size = rank, world_size
        self.groups = [shard_urls(self.path)] + [shard_urls(self.path, e) for e in self.extractors]
        self.presents = {e: card["extractors"][e].get("presents") or _PRESENTS.get(e, "audio")
                         for e in self.extractors}
        # the voiced-frame mask reads eGeMAPS's F0 descriptor (0 where unvoiced)
        lld = card["extractors"].get("egemaps", {}).get("lld") or []
        self.f0 = next((i for i, n in enumerate(lld) if n.startswith("F0semitone")), None)
        rates = (modality_dropout if isinstance(modality_dropout, dict)
                 else dict.fromkeys(MODALITIES, modality_dropout))
        bad_rates = {k: v for k, v in {**rates, "frames": frame_dropout}.items()
                     if k not in (*MODALITIES, "frames") or not 0 <= v <= 1}
        if bad_rates:
            raise ValueError(f"dropout rates must be in [0, 1] for {MODALITIES}; got "
                             f"{bad_rates}")
        self.dropout = {m: float(rates.get(m, 0.0)) for m in MODALITIES}
        # train on one presentation modality's perceived label (CREMA-D's voice-only votes:
        # "audio") instead of the corpus's overall label
        self.label_from = label_from
        self.frame_dropout = float(frame_dropout)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle shard order per epoch (call before each epoch when shuffle=True)."""
        self.epoch = epoch

    def my_shards(self) -> list[int]:
        """The shard indices this rank and DataLoader worker reads."""
        rank, world = _rank_world()
        rank = self.rank if self.rank is not None else rank
        world = self.world_size if self.world_size is not None else world
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        order = list(range(len(self.groups[0])))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        return order[rank * workers + worker :: world * workers]

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
        for parts in lockstep(self.groups, self.my_shards()):
            out = self._sample(parts)
            if out is not None:
                yield out

    def _sample(self, parts: tuple[dict[str, Any], ...]) -> tuple[dict, dict] | None:
        base = parts[0]
        meta = json.loads(base["json"])
        if any(meta.get(k) not in allowed for k, allowed in self.filters.items()):
            return None
        labels = self._labels(meta)
        if self.require_label and labels["label"] < 0:
            return None
        features: dict[str, torch.Tensor] = {}
        has = dict.fromkeys(MODALITIES, False)
        for name, part in zip(self.extractors, parts[1:], strict=True):
            ok = json.loads(part[f"{name}.status.json"])["status"] == "ok"
            if not ok and self.skip_failed:
                return None
            has[self.presents[name]] |= ok
            for member, data in part.items():
                key = member.removesuffix(".npy")
                if member.endswith(".npy") and (self.fields is None or key in self.fields):
                    array = _npy(data)
                    # text (ASR words) stays Python strings; numbers become tensors
                    features[key] = (array.tolist() if array.dtype.kind == "U"
                                     else torch.from_numpy(array))
        no_face = features.get("faces.no_face")
        face = has["visual"] and not (no_face is not None and bool(no_face))
        labels["present"] = torch.tensor([bool(meta.get("audio_uri")),
                                          bool(meta.get("video_uri")), face,
                                          bool(meta.get("transcript") or has["text"])])
        labels["frame_masks"] = self._frame_masks(features)
        self._drop(features, labels, has, meta["utt_id"])
        return features, labels

    def _frame_masks(self, features: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per frame, where the modality is really there: `face` per sampled video frame (the
        target face found), `voiced` per eGeMAPS LLD frame (F0 above 0: voiced speech)."""
        masks = {}
        score = features.get("faces.score")
        if isinstance(score, torch.Tensor):
            masks["face"] = ~torch.isnan(score)
        lld = features.get("egemaps.lld")
        if isinstance(lld, torch.Tensor) and self.f0 is not None and lld.ndim == 2:
            masks["voiced"] = lld[:, self.f0] > 0
        return masks

    def _drop(self, features: dict[str, Any], labels: dict[str, Any], has: dict[str, bool],
              utt_id: str) -> None:
        """Apply the seeded modality and frame dropout; record the masks it applied."""
        rng = np.random.default_rng([self.seed, self.epoch, zlib.crc32(utt_id.encode())])
        keep = {m: has[m] and rng.random() >= self.dropout[m] for m in MODALITIES}
        frame_keep: dict[str, torch.Tensor] = {}
        for key, value in features.items():
            modality = self.presents[key.split(".", 1)[0]]
            if not keep[modality]:
                features[key] = [] if isinstance(value, list) else torch.zeros_like(value)
            elif (self.frame_dropout and isinstance(value, torch.Tensor) and value.ndim >= 2
                  and value.shape[0] > 1):
                kept = torch.from_numpy(rng.random(value.shape[0]) >= self.frame_dropout)
                features[key] = value * kept.reshape(-1, *[1] * (value.ndim - 1)).to(value.dtype)
                frame_keep[key] = kept
        labels["modality_mask"] = torch.tensor([keep[m] for m in MODALITIES])
        if self.frame_dropout:
            labels["frame_keep"] = frame_keep

    def _labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        if self.label_from is not None:
            entry = next((e for e in meta.get("label_by_modality") or []
                          if e["modality"] == self.label_from), {})
            meta = {**meta, "label": entry.get("label"), "soft_label": entry.get("soft_label"),
                    "sentiment": entry.get("sentiment")}
        canonical = meta.get("label")
        name = canonical if self.view == "canonical" else self.schema.view(self.view, canonical)
        vad = [meta.get(d) for d in ("valence", "arousal", "dominance")]
        soft = torch.zeros(len(self.schema.classes))
        for item in meta.get("soft_label") or []:
            soft[self.schema.classes.index(item["label"])] = item["p"]
        sentiment = meta.get("sentiment")
        # the all-inclusive multi-hot in the chosen view (a compound sets both of its classes)
        members = {c if self.view == "canonical" else self.schema.view(self.view, c)
                   for c in meta.get("label_set") or []}
        multi_hot = torch.tensor([c in members for c in self.classes], dtype=torch.float32)
        soft_all = torch.zeros(len(self.schema.classes))
        for item in meta.get("soft_label_all") or []:
            soft_all[self.schema.classes.index(item["label"])] = item["p"]
        return {
            "label_set": multi_hot,
            "soft_all": soft_all,
            "label": self.classes.index(name) if name in self.classes else -1,
            "vad": torch.tensor([np.nan if v is None else v for v in vad], dtype=torch.float32),
            "vad_mask": torch.tensor([v is not None for v in vad]),
            "soft": soft,
            "sentiment": torch.tensor(np.nan if sentiment is None else sentiment,
                                      dtype=torch.float32),
            "utt_id": meta["utt_id"],
            "corpus": meta["corpus"],
        }


def pad_collate(batch: list[tuple[dict[str, torch.Tensor], dict[str, Any]]]
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Stack a batch; frame-level arrays of different lengths are zero-padded along the first
    axis, with `<name>.mask` (batch x frames, True on real frames); text fields are lists."""
    feats: dict[str, torch.Tensor] = {}
    for key in batch[0][0]:
        arrays = [f[key] for f, _ in batch]
        if not isinstance(arrays[0], torch.Tensor):  # text: a list per batch
            feats[key] = arrays
            continue
        if all(a.shape == arrays[0].shape for a in arrays):
            feats[key] = torch.stack(arrays)
            continue
        longest = max(a.shape[0] for a in arrays)
        padded = arrays[0].new_zeros((len(arrays), longest, *arrays[0].shape[1:]))
        mask = torch.zeros((len(arrays), longest), dtype=torch.bool)
        for i, a in enumerate(arrays):
            padded[i, : a.shape[0]] = a
            mask[i, : a.shape[0]] = True
        feats[key], feats[f"{key}.mask"] = padded, mask
    labels: dict[str, Any] = {}
    for key in batch[0][1]:
        values = [lab[key] for _, lab in batch]
        if isinstance(values[0], torch.Tensor):
            labels[key] = torch.stack(values)
        elif isinstance(values[0], int):
            labels[key] = torch.tensor(values)
        else:
            labels[key] = values
    return feats, labels


def class_weights(path: str, label_view: str = "canonical",
                  filters: dict[str, str | Sequence[str]] | None = None) -> torch.Tensor:
    """Inverse-frequency weights N / (C * n_c) over the view's classes, from the utterance
    table (0 for classes absent from the selection)."""
    store = resolve_dataset(path)
    schema = load_label_schema()
    classes = view_classes(label_view)
    frame = lazy(store, [LAYOUT.utterances])
    for key, value in (filters or {}).items():
        frame = frame.filter(pl.col(key).is_in([value] if isinstance(value, str) else value))
    labels = frame.select("label").collect()["label"].to_list()
    names = labels if label_view == "canonical" else [schema.view(label_view, c) for c in labels]
    counts = np.array([sum(n == c for n in names) for c in classes], dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def cross_corpus(path: str, train: Sequence[str], test: Sequence[str],
                 label_view: str = "iemocap4", **kwargs: Any
                 ) -> tuple[MERDataset, MERDataset, torch.Tensor]:
    """Train on some corpora, test on others, with one label view and the training
    distribution's class weights."""
    overlap = set(train) & set(test)
    if overlap:
        raise ValueError(f"corpora both in train and test: {sorted(overlap)}")
    make = lambda corpora: MERDataset(  # noqa: E731
        path, label_view=label_view, filters={"corpus": list(corpora)}, require_label=True,
        **kwargs)
    return make(train), make(test), class_weights(path, label_view, {"corpus": list(train)})
