"""Read a dataset back: lazy polars frames over utterances and feature tables, shard URLs."""

from __future__ import annotations

import polars as pl

from etl.store import UTTERANCES, resolve_dataset


def shard_urls(path: str) -> list[str]:
    """The WebDataset tar URLs of a dataset version, in order (for webdataset.WebDataset)."""
    store = resolve_dataset(path)
    return [f"{store.uri}/{rel}" for rel in sorted(store.read_card()["files"])
            if rel.startswith("shards/")]


def scan(path: str, features: list[str] | None = None) -> pl.LazyFrame:
    """Utterances joined with the chosen extractors' feature tables (all by default).

    Lazy: filters on corpus, split or label are pushed down into the Parquet scans.
    Feature columns are prefixed with the extractor name, e.g. `egemaps.lld`.
    """
    store = resolve_dataset(path)
    card = store.read_card()
    frame = pl.scan_parquet(f"{store.uri}/{UTTERANCES}")
    for name in card["extractors"] if features is None else features:
        if name not in card["extractors"]:
            raise KeyError(f"{store.uri}: no extractor {name!r}; has {sorted(card['extractors'])}")
        feats = pl.scan_parquet(f"{store.uri}/features/{name}/part-*.parquet")
        feats = feats.rename(lambda c, n=name: c if c == "utt_id" else f"{n}.{c}")
        frame = frame.join(feats, on="utt_id", how="left")
    return frame
