"""One dataset version directory on any fsspec filesystem: atomic writes, listing, hashing and
the card. Where each file goes is `etl.layout`'s business."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from mer_etl.layout import LAYOUT, UnsafeDatasetPath, check_rel
from mer_etl.media.fs import is_local, sha256_bytes, sha256_sized

CARD = LAYOUT.card


class Store:
    """One dataset version directory, addressed through fsspec."""

    def __init__(self, root: str) -> None:
        self.fs: AbstractFileSystem
        self.fs, path = fsspec.core.url_to_fs(root)
        self.path = path.rstrip("/")
        self.uri = root.rstrip("/")
        # (sha256, bytes) of each file this process (or a worker reporting back) wrote: the
        # card takes them from here instead of reading every file back.
        self.written: dict[str, tuple[str, int]] = {}

    def __getstate__(self) -> dict[str, Any]:  # a worker's copy starts with no record
        return {**self.__dict__, "written": {}}

    def full(self, rel: str) -> str:
        return f"{self.path}/{check_rel(rel)}"

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    @property
    def is_local(self) -> bool:
        return is_local(self.fs)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """A reader never sees a partial file: on a filesystem we write a temporary name and
        rename it; an object store's PUT is already all-or-nothing, and its "rename" would be
        a second full copy."""
        dest = self.full(rel)
        digest = (sha256_bytes(data), len(data))
        self.written.pop(rel, None)  # until the new bytes are in place
        if not self.is_local:
            self.fs.pipe_file(dest, data)
        else:
            self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            tmp = f"{dest}.tmp-{uuid.uuid4().hex}"
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
            self.fs.mv(tmp, dest)
        self.written[rel] = digest

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

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        """The table, or only those of `columns` it has (the others are not read at all)."""
        # Never a Python file object inside Arrow: Arrow's threads release such a handle
        # whenever they finish with it, and one released during interpreter exit needs the GIL
        # and aborts the process ("terminate called without an active exception", seen under
        # load). Local files by path (Arrow's own filesystem); remote ones as bytes.
        if self.is_local:
            source: Any = self.full(rel)
        else:
            with self.fs.open(self.full(rel), "rb") as fh:
                source = pa.BufferReader(fh.read())
        parquet = pq.ParquetFile(source)
        if columns is not None:
            columns = [c for c in columns if c in parquet.schema_arrow.names]
        return parquet.read(columns=columns)

    def sha256(self, rel: str) -> tuple[str, int]:
        """(sha256, bytes) of the file as it is now, read back (verify's way)."""
        return sha256_sized(self.fs, self.full(rel))

    def digest(self, rel: str) -> tuple[str, int]:
        """(sha256, bytes) as hashed while writing; read back only for a file this run did
        not write (one a killed run left, to be resumed)."""
        return self.written.get(rel) or self.sha256(rel)

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

    def remove(self, rel: str) -> None:
        """Delete one file of the version if it is there (retry unmarks units this way)."""
        self.written.pop(rel, None)
        if self.exists(rel):
            self.fs.rm(self.full(rel))

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
            other = Store(sub if is_local(self.uri) else self.fs.unstrip_protocol(sub))
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
        candidate = Store(sub if is_local(path) else fs.unstrip_protocol(sub))
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
