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
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mer_etl.layout import LAYOUT
from mer_etl.read import lockstep, shard_urls
from mer_etl.schemas.labels import load_label_schema
from mer_etl.store import resolve_dataset

CATEGORICAL_VIEWS = ("canonical", "iemocap4", "ekman7", "ekman6", "valence3")
FILTER_FIELDS = ("corpus", "split", "speaker", "language", "gender")


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
    the canonical classes), `sentiment` (NaN when missing), and `utt_id`, `corpus`.
    """

    def __init__(self, path: str, extractors: Sequence[str] | None = None,
                 fields: Sequence[str] | None = None, label_view: str = "canonical",
                 filters: dict[str, str | Sequence[str]] | None = None,
                 require_label: bool = False, skip_failed: bool = True, shuffle: bool = False,
                 seed: int = 0, rank: int | None = None, world_size: int | None = None) -> None:
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
        for name, part in zip(self.extractors, parts[1:], strict=True):
            if json.loads(part[f"{name}.status.json"])["status"] != "ok" and self.skip_failed:
                return None
            for member, data in part.items():
                key = member.removesuffix(".npy")
                if member.endswith(".npy") and (self.fields is None or key in self.fields):
                    array = _npy(data)
                    # text (ASR words) stays Python strings; numbers become tensors
                    features[key] = (array.tolist() if array.dtype.kind == "U"
                                     else torch.from_numpy(array))
        return features, labels

    def _labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        canonical = meta.get("label")
        name = canonical if self.view == "canonical" else self.schema.view(self.view, canonical)
        vad = [meta.get(d) for d in ("valence", "arousal", "dominance")]
        soft = torch.zeros(len(self.schema.classes))
        for item in meta.get("soft_label") or []:
            soft[self.schema.classes.index(item["label"])] = item["p"]
        sentiment = meta.get("sentiment")
        return {
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
    frame = pl.scan_parquet(f"{store.uri}/{LAYOUT.utterances}")
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
