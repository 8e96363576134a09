"""The output layout on any fsspec filesystem, atomic writes, and the dataset card.

OUT/<name>/<version>/
  dataset.json                          the card: version, provenance, counts, sha256 of files
  utterances.parquet                    manifest + labels (schemas.MANIFEST_SCHEMA)
  errors.parquet                        what failed and why (schemas.ERROR_SCHEMA)
  shards/shard-NNNNNN.tar               base WebDataset shard: <utt_id>.json (labels and meta)
  shards/<extractor>/shard-NNNNNN.tar   the extractor's arrays, same keys in the same order
  features/<extractor>/part-NNNNNN.parquet   one row per utterance with features, by utt_id
  status/<extractor>/part-NNNNNN.parquet     one row per utterance: ok | skipped | failed
  words/part-NNNNNN.parquet             word-aligned view (with asr): one row per ASR word

Shard N of every group holds the same utterances (Lhotse Shar's layout), so adding an extractor
adds files and never rewrites existing ones. A unit (the base, or one extractor) of shard N is
complete when its last file exists: the base tar, or the extractor's status part.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

CARD = "dataset.json"
UTTERANCES = "utterances.parquet"
ERRORS = "errors.parquet"
RATINGS = "ratings.parquet"  # per-annotator ratings, where the corpus publishes them
BASE = "base"
BASE_TAR_RE = re.compile(r"^shards/shard-\d{6}\.tar$")


def base_tar(shard: int) -> str:
    return f"shards/shard-{shard:06d}.tar"


def extractor_tar(extractor: str, shard: int) -> str:
    return f"shards/{extractor}/shard-{shard:06d}.tar"


def feature_part(extractor: str, shard: int) -> str:
    return f"features/{extractor}/part-{shard:06d}.parquet"


def status_part(extractor: str, shard: int) -> str:
    """Written last for an extractor's shard: its presence means the unit is complete."""
    return f"status/{extractor}/part-{shard:06d}.parquet"


def unit_marker(unit: str, shard: int) -> str:
    return base_tar(shard) if unit == BASE else status_part(unit, shard)


def unit_files(unit: str, files: list[str]) -> list[str]:
    """The files of one unit (the base, or one extractor) among a version's files."""
    if unit == BASE:
        return [f for f in files if BASE_TAR_RE.match(f)]
    # a derived view (words/) keeps its parts in a folder named after it
    prefixes = (f"features/{unit}/", f"status/{unit}/", f"shards/{unit}/", f"{unit}/")
    return [f for f in files if f.startswith(prefixes)]


class UnsafeDatasetPath(ValueError):
    """A relative path (from a card, which may come from elsewhere) that leaves the dataset."""


def check_rel(rel: str) -> str:
    """`rel` if it names a place inside a dataset version, else UnsafeDatasetPath: a card is
    data from elsewhere too, and no entry of it may make a reader open `../..` or `/etc`."""
    parts = rel.split("/")
    if (not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or "://" in rel
            or any(p in ("", ".", "..") for p in parts)):
        raise UnsafeDatasetPath(f"{rel!r}: not a relative path inside the dataset")
    return rel


class Store:
    """One dataset version directory, addressed through fsspec."""

    def __init__(self, root: str) -> None:
        self.fs: AbstractFileSystem
        self.fs, path = fsspec.core.url_to_fs(root)
        self.path = path.rstrip("/")
        self.uri = root.rstrip("/")

    def full(self, rel: str) -> str:
        return f"{self.path}/{check_rel(rel)}"

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    @property
    def is_local(self) -> bool:
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return "file" in protocols or "local" in protocols

    def write_bytes(self, rel: str, data: bytes) -> None:
        """A reader never sees a partial file: on a filesystem we write a temporary name and
        rename it; an object store's PUT is already all-or-nothing, and its "rename" would be
        a second full copy."""
        dest = self.full(rel)
        if not self.is_local:
            self.fs.pipe_file(dest, data)
            return
        self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{dest}.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, dest)

    def remove_stale_temporaries(self) -> int:
        """Delete temporaries a killed writer left behind (one writer per version at a time)."""
        if not self.is_local or not self.fs.exists(self.path):
            return 0
        stale = [p for p in self.fs.find(self.path) if ".tmp-" in p.rsplit("/", 1)[-1]]
        for path in stale:
            self.fs.rm(path)
        return len(stale)

    def write_table(self, rel: str, table: pa.Table) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(rel, buf.getvalue())

    def read_table(self, rel: str) -> pa.Table:
        with self.fs.open(self.full(rel), "rb") as fh:
            return pq.read_table(fh)

    def sha256(self, rel: str) -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        with self.fs.open(self.full(rel), "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
        return digest.hexdigest(), size

    def files(self) -> list[str]:
        """Every data file, relative, sorted; the card itself and work files are not listed."""
        found = self.fs.find(self.path)
        rels = [p[len(self.path) + 1 :] for p in found]
        return sorted(r for r in rels if r != CARD and ".tmp-" not in r)

    def read_card(self) -> dict[str, Any]:
        with self.fs.open(self.full(CARD), "rb") as fh:
            return json.load(fh)

    def write_card(self, card: dict[str, Any]) -> None:
        data = json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        self.write_bytes(CARD, data)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open(self.full(rel), "rb") as fh:
            return fh.read()

    def versions(self) -> list[Store]:
        """Complete sibling versions of the same dataset (those with a card), newest first."""
        parent = self.path.rsplit("/", 1)[0]
        if not self.fs.exists(parent):
            return []
        found = []
        for sub in self.fs.ls(parent, detail=False):
            sub = sub.rstrip("/")
            if sub == self.path:
                continue
            other = Store(self.fs.unstrip_protocol(sub) if "://" in self.uri else sub)
            if other.exists(CARD):
                found.append((other.read_card().get("created", ""), other))
        return [s for _, s in sorted(found, key=lambda v: v[0], reverse=True)]


def resolve_dataset(path: str) -> Store:
    """A version directory, or a dataset directory whose newest complete version is taken."""
    store = Store(path)
    if store.exists(CARD):
        return store
    fs, base = store.fs, store.path
    if not fs.exists(base):
        raise FileNotFoundError(f"{path}: no such dataset or version directory")
    versions = []
    for sub in fs.ls(base, detail=False):
        candidate = Store(fs.unstrip_protocol(sub) if "://" in path else sub)
        if candidate.exists(CARD):
            versions.append((candidate.read_card().get("created", ""), candidate))
    if not versions:
        raise FileNotFoundError(f"{path}: no {CARD} here or in any version directory below")
    return max(versions, key=lambda v: v[0])[1]


def verify(store: Store) -> list[str]:
    """Re-hash every file against the card; return one line per problem (empty: all good)."""
    card = store.read_card()
    problems = []
    listed = card.get("files", {})
    if not isinstance(listed, dict) or not all(
            isinstance(v, dict) and {"sha256", "bytes"} <= set(v) for v in listed.values()):
        return ["the card's `files` is not a mapping path -> {sha256, bytes}"]
    for rel, expected in sorted(listed.items()):
        try:
            check_rel(rel)
        except UnsafeDatasetPath as exc:
            problems.append(f"unsafe path in the card: {exc}")
            continue
        if not store.exists(rel):
            problems.append(f"missing: {rel}")
            continue
        digest, size = store.sha256(rel)
        if digest != expected["sha256"] or size != expected["bytes"]:
            problems.append(
                f"changed: {rel} (sha256 {digest[:12]}…, {size} bytes; card says "
                f"{expected['sha256'][:12]}…, {expected['bytes']} bytes)"
            )
    for rel in store.files():
        if rel not in listed:
            problems.append(f"not in the card: {rel}")
    return problems
