"""Read a dataset back: lazy polars frames over utterances and feature tables, and WebDataset
samples with the base shard and the chosen extractors' shards joined by key."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import fsspec
import numpy as np
import polars as pl
import webdataset as wds

from mer_etl.layout import LAYOUT, check_rel
from mer_etl.store import Store, resolve_dataset

OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "memory")


def _fsspec_gopen(url: str, mode: str = "rb", bufsize: int = 8192, **kw: Any) -> Any:
    return fsspec.open(url, mode).open()


# webdataset opens URLs through its gopen scheme table, which knows local files, pipes and
# HTTP; registering fsspec for object stores lets `wds.WebDataset("s3://...")` read our shards.
_gopen = importlib.import_module("webdataset.gopen")  # `wds.gopen` is the function, not module
for _scheme in OBJECT_STORE_SCHEMES:
    if _gopen.gopen_schemes.get(_scheme, _gopen.gopen_error) is _gopen.gopen_error:
        _gopen.gopen_schemes[_scheme] = _fsspec_gopen


class UnsafeMemberError(ValueError):
    """A tar member of a type our format never writes (e.g. a pickle): never decoded."""


# What our shards contain, and the only decoding a reader does. webdataset's default
# `.decode()` also unpickles .pyd/.pickle and torch.loads .pth members, which runs code from
# the shard: a dataset from elsewhere must never get to do that.
SAFE_DECODERS: dict[str, Any] = {
    "npy": lambda data: np.load(io.BytesIO(data), allow_pickle=False),
    "json": lambda data: json.loads(data),
    "txt": lambda data: data.decode("utf-8"),
    "jpg": bytes, "jpeg": bytes, "png": bytes,  # images stay encoded (decode with PIL)
}


def decode_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """A raw webdataset sample with every member decoded safely, or UnsafeMemberError naming
    the shard and member. Use it instead of webdataset's `.decode()`:
    `wds.WebDataset(urls).map(decode_sample)`."""
    out: dict[str, Any] = {}
    for member, data in sample.items():
        if member.startswith("__"):
            out[member] = data
            continue
        ext = member.rsplit(".", 1)[-1].lower()
        decoder = SAFE_DECODERS.get(ext)
        if decoder is None:
            raise UnsafeMemberError(
                f"{sample.get('__url__')}: member {sample.get('__key__')}.{member}: a .{ext} "
                f"member is not part of the mer-etl format (expected "
                f"{', '.join(sorted(SAFE_DECODERS))}); refusing to decode it")
        try:
            out[member] = decoder(data)
        except ValueError as exc:  # includes a pickled .npy (allow_pickle=False)
            raise UnsafeMemberError(f"{sample.get('__url__')}: member "
                                    f"{sample.get('__key__')}.{member}: {exc}") from None
    return out


def shard_urls(path: str, extractor: str | None = None) -> list[str]:
    """Tar URLs of a dataset version in order: the base shards, or one extractor's."""
    store = resolve_dataset(path)
    files = sorted(store.read_card()["files"])
    chosen = (LAYOUT.base_tars(files) if extractor is None
              else LAYOUT.extractor_tars(extractor, files))
    return [f"{store.uri}/{check_rel(rel)}" for rel in chosen]


def lockstep(groups: list[list[str]], shards: Iterable[int], decode: bool = False
             ) -> Iterator[tuple[dict[str, Any], ...]]:
    """The samples of the given shards, one tuple per key: (base, extractor 1, ...).

    Shard N of every group holds the same keys in the same order, so the groups are read in
    lockstep; a key mismatch means a damaged dataset and raises. Shards are split by the
    caller, so webdataset's own node/worker splitters are off (with one URL per stream they
    would hand it to a single worker).
    """
    for shard in shards:
        streams = []
        for group in groups:
            ds = wds.WebDataset(group[shard], shardshuffle=False, nodesplitter=None,
                                workersplitter=None)
            streams.append(iter(ds.map(decode_sample) if decode else ds))
        for parts in zip(*streams, strict=True):
            key = parts[0]["__key__"]
            for part in parts[1:]:
                if part["__key__"] != key:
                    raise ValueError(f"{part['__url__']}: key {part['__key__']!r} where the base "
                                     f"shard has {key!r}")
            yield parts


def iter_samples(path: str, extractors: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Decoded samples with the base json and each chosen extractor's arrays in one dict."""
    store = resolve_dataset(path)
    card = store.read_card()
    names = list(card["extractors"]) if extractors is None else extractors
    for name in names:
        if name not in card["extractors"]:
            raise KeyError(f"{store.uri}: no extractor {name!r}; has {sorted(card['extractors'])}")
    groups = [shard_urls(path)] + [shard_urls(path, n) for n in names]
    for parts in lockstep(groups, range(len(groups[0])), decode=True):
        merged: dict[str, Any] = {"__key__": parts[0]["__key__"]}
        for part in parts:
            merged.update({k: v for k, v in part.items() if not k.startswith("__")})
        yield merged


def scan(path: str, features: list[str] | None = None) -> pl.LazyFrame:
    """Utterances joined with the chosen extractors' feature tables (all by default).

    Lazy: filters on corpus, split or label are pushed down into the Parquet scans.
    Feature columns are prefixed with the extractor name, e.g. `egemaps.lld`.
    """
    store = resolve_dataset(path)
    card = store.read_card()
    frame = lazy(store, [LAYOUT.utterances])
    files = store.files()
    for name in card["extractors"] if features is None else features:
        if name not in card["extractors"]:
            raise KeyError(f"{store.uri}: no extractor {name!r}; has {sorted(card['extractors'])}")
        feats = lazy(store, LAYOUT.feature_parts(name, files))
        feats = feats.rename(lambda c, n=name: c if c == "utt_id" else f"{n}.{c}")
        frame = frame.join(feats, on="utt_id", how="left")
    return frame


def status(path: str) -> pl.DataFrame:
    """Per utterance and extractor: ok / skipped / failed, with stage and reason."""
    store = resolve_dataset(path)
    return lazy(store, LAYOUT.status_parts(store.files())).collect()


def lazy(store: Store, rels: list[str]) -> pl.LazyFrame:
    """A lazy frame over some of a dataset's Parquet files. Local files go to polars as they
    are; others through pyarrow's dataset on the store's fsspec filesystem, so an object
    store's endpoint and credentials are fsspec's (polars' own client would ignore them)."""
    if store.is_local:
        return pl.scan_parquet([store.full(r) for r in rels])
    import pyarrow.dataset as pads
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs = PyFileSystem(FSSpecHandler(store.fs))
    return pl.scan_pyarrow_dataset(pads.dataset([store.full(r) for r in rels], filesystem=fs,
                                                format="parquet"))
