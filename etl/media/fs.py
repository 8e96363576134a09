"""Filesystem helpers on fsspec: the one answer to "is this local?", the URI a reader can open,
a seekable local path for tools that need one (ffmpeg, ffprobe), and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

CHUNK = 1 << 20


def is_local(target: AbstractFileSystem | str) -> bool:
    """Whether a filesystem, or the filesystem a URI or path names, is the local disk."""
    if isinstance(target, str):
        return "://" not in target or target.startswith("file://")
    protocols = target.protocol if isinstance(target.protocol, tuple) else (target.protocol,)
    return "file" in protocols or "local" in protocols


def to_uri(fs: AbstractFileSystem, path: str) -> str:
    """A path readers can open: the plain absolute path on local disk, the full URI else."""
    return path if is_local(fs) else fs.unstrip_protocol(path)


def plain_path(uri: str) -> str:
    """A local URI as a path (file:// removed); only for URIs `is_local` accepts."""
    return uri.removeprefix("file://")


def read_bytes(uri: str) -> bytes:
    with fsspec.open(uri, "rb") as fh:
        return fh.read()


@contextlib.contextmanager
def local_path(uri: str) -> Iterator[str]:
    """A path a tool can seek in: local files as they are; remote ones copied to a temporary
    file in blocks (media can be large; it never sits in memory whole)."""
    if is_local(uri):
        yield plain_path(uri)
        return
    suffix = Path(uri.rsplit("/", 1)[-1]).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp, fsspec.open(uri, "rb") as src:
        shutil.copyfileobj(src, tmp, CHUNK)
        tmp.flush()
        yield tmp.name


def sha256_file(fs: AbstractFileSystem, path: str) -> str:
    """sha256 of a file on any filesystem, read in blocks."""
    return sha256_sized(fs, path)[0]


def sha256_sized(fs: AbstractFileSystem, path: str) -> tuple[str, int]:
    """(sha256, size in bytes) of a file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with fs.open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def sha256_local(path: Path | str) -> str:
    """sha256 of a local file (model weights: gigabytes, so in blocks)."""
    return sha256_file(LocalFileSystem(), str(path))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
