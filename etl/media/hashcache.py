"""A cache of media content hashes keyed by what the filesystem says about each file, so a
rerun over an unchanged 100 GB corpus reads none of it again.

The key is the file's URI and its stamp: on local disk size, mtime, ctime and inode (ctime
changes with any write, even one that restores the mtime, which size + mtime alone would
miss); on an object store size and the ETag (or last-modified) the store reports. A file
without a usable stamp is hashed every time. The cache is one SQLite file,
`$MER_ETL_CACHE/media-sha256.sqlite` (default `~/.cache/mer-etl`), safe for several processes;
MER_ETL_HASH_CACHE=0 turns it off. A cache that cannot be opened costs speed, never a result.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.media.fs import is_local

log = logging.getLogger(__name__)


def cache_path() -> Path | None:
    if os.environ.get("MER_ETL_HASH_CACHE", "1") == "0":
        return None
    base = os.environ.get("MER_ETL_CACHE") or os.path.join(Path.home(), ".cache", "mer-etl")
    return Path(base) / "media-sha256.sqlite"


def stamp(fs: AbstractFileSystem, path: str) -> str | None:
    """What must be unchanged for a cached hash to hold; None: do not cache this file."""
    try:
        if is_local(fs):
            st = os.stat(path)
            return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        info: dict[str, Any] = fs.info(path)
    except OSError:
        return None
    tag = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
    return None if tag is None or info.get("size") is None else f"{info['size']}:{tag}"


class HashCache:
    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None
        path = cache_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS media (uri TEXT PRIMARY KEY, "
                            "stamp TEXT NOT NULL, sha256 TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            log.info("media hash cache unavailable (%s): every file is hashed", exc)
            self.db = None

    def get(self, keys: dict[str, str]) -> dict[str, str]:
        """uri -> sha256 for the keys (uri -> stamp) whose stamp matches the cached one."""
        if self.db is None or not keys:
            return {}
        found = {}
        uris = list(keys)
        try:
            for i in range(0, len(uris), 500):
                chunk = uris[i:i + 500]
                rows = self.db.execute("SELECT uri, stamp, sha256 FROM media WHERE uri IN "
                                       f"({','.join('?' * len(chunk))})", chunk)
                found.update({u: sha for u, s, sha in rows if keys[u] == s})
        except sqlite3.Error as exc:
            log.info("media hash cache unreadable (%s)", exc)
            return {}
        return found

    def put(self, items: list[tuple[str, str, str]]) -> None:
        """(uri, stamp, sha256) rows, one transaction."""
        if self.db is None or not items:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO media VALUES (?, ?, ?)", items)
        except sqlite3.Error as exc:
            log.info("media hash cache not written (%s)", exc)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
