"""What every corpus adapter shares: the result type, path helpers and manifest assembly."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
from fsspec import AbstractFileSystem

from mer_etl.jobs.row import Row
from mer_etl.media.fs import is_local, sha256_file, to_uri
from mer_etl.media.hashcache import HashCache, stamp
from mer_etl.schemas import MANIFEST_SCHEMA, validate_table
from mer_etl.schemas.labels import LabelSchema


class CorpusError(RuntimeError):
    """The corpus root as a whole is unusable (missing, empty, not this corpus)."""


@dataclass
class ScanResult:
    """Manifest rows an adapter found, and every file it could not use, with the reason."""

    rows: list[Row] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    release: str | None = None  # the corpus release, where the layout tells it
    ratings: list[dict[str, Any]] = field(default_factory=list)  # RATINGS_SCHEMA rows

    def bad_lines(self, corpus: str, errors: list[LabelFileError]) -> None:
        """Record each malformed line a parser skipped: it cost its own row, never the file."""
        for exc in errors:
            self.problem(corpus, f"{exc.path}:{exc.line}", exc.error_type, str(exc))

    def problem(self, corpus: str, path: str, error_type: str, message: str) -> None:
        self.problems.append(
            {
                "corpus": corpus,
                "utt_id": None,
                "path": path,
                "stage": "manifest",
                "error_type": error_type,
                "message": message,
            }
        )


@dataclass(frozen=True)
class Adapter:
    """A corpus adapter: `scan(fs, root, labels)` turns the native layout into manifest rows."""

    name: str
    layout: str  # one line describing the expected native layout, shown in errors and `corpora`
    scan: Callable[[AbstractFileSystem, str, LabelSchema], ScanResult]
    # empty: the corpus's facts in the label schema (jobs.ADAPTERS fills them)
    title: str = ""
    modality: str = ""  # audio | audio-visual | text
    license: str = ""


def walk_files(fs: AbstractFileSystem, root: str, result: ScanResult, corpus: str
               ) -> Iterator[str]:
    """Every file under root, sorted. An unreadable directory is recorded, not fatal; a path
    that leaves the root (a symlink pointing outside it, a `..` component in an object key, a
    directory loop) is refused and recorded, so nothing outside the corpus is ever read.

    Our own recursion over `fs.ls` because fsspec's `walk` drops its `on_error` callback when
    it recurses, so an unreadable subdirectory would vanish without a word.
    """
    local = is_local(fs)
    real_root = os.path.realpath(root) if local else root
    seen = {real_root}

    def refuse(path: str, why: str) -> None:
        result.problem(corpus, path, "UnsafePath", why)

    def walk(folder: str) -> Iterator[str]:
        try:
            entries = sorted(fs.ls(folder, detail=True), key=lambda e: e["name"])
        except OSError as exc:
            result.problem(corpus, folder, "UnreadableDirectory", f"cannot list directory: {exc}")
            return
        for entry in entries:
            name = entry["name"].rstrip("/")
            if name == folder.rstrip("/"):
                continue
            if not _utf8(name):
                result.problem(corpus, printable_path(name), "UndecodableName",
                               "file or folder name is not valid UTF-8; skipped (rename it)")
                continue
            if ".." in name.split("/"):
                refuse(name, "a '..' component would leave the corpus root")
                continue
            real = os.path.realpath(name) if local else name
            if local and entry.get("islink") and \
                    os.path.commonpath([real, real_root]) != real_root:
                refuse(name, f"symlink points outside the corpus root (to {real})")
                continue
            # fsspec's local ls types a symlinked directory "other": ask the OS.
            is_dir = entry["type"] == "directory" or (
                local and entry.get("islink") and os.path.isdir(name))
            if not is_dir:
                if local and not _regular(name):  # a FIFO or device would block a read forever
                    result.problem(corpus, name, "NotARegularFile",
                                   "not a regular file (FIFO, socket or device); skipped")
                    continue
                yield name
            elif real in seen:
                refuse(name, f"directory loop back to {real}")
            else:
                seen.add(real)
                yield from walk(name)

    yield from walk(root)


def _utf8(name: str) -> bool:
    """False for a name the OS handed over with undecodable bytes (surrogate escapes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(name: str) -> str:
    """A path with undecodable bytes shown as \\xNN escapes, so it can be reported."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _regular(path: str) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class UnsafePathError(ValueError):
    """A media reference that would leave the corpus root."""


def resolve_inside(fs: AbstractFileSystem, root: str, ref: str) -> str:
    """The path of media reference `ref` (relative to `root`, or absolute / a URI naming a
    place inside it), or UnsafePathError. One policy for every media reference of every
    adapter: `..` that climbs out, an absolute path or URI elsewhere, or (on local disk) a
    symlink whose target lies outside are refused, so no table can make a run read or publish
    the hash of a file outside the corpus it names."""
    import posixpath

    root = root.rstrip("/") or "/"
    ref = str(ref).strip()
    if "\x00" in ref:
        raise UnsafePathError(f"{ref!r}: NUL byte in a media path")
    if "://" in ref:
        ref_fs, ref_path = fsspec.core.url_to_fs(ref)
        if type(ref_fs) is not type(fs):
            raise UnsafePathError(f"{ref!r}: another filesystem than the root's ({root})")
        path = posixpath.normpath(ref_path)
    elif ref.startswith("/"):
        path = posixpath.normpath(ref)
    else:
        path = posixpath.normpath(posixpath.join(root, ref))
    if path != root and not path.startswith(root.rstrip("/") + "/"):
        raise UnsafePathError(f"{ref!r} resolves to {path}, outside the corpus root {root}; "
                              "name a root that contains it (--root)")
    if is_local(fs):
        real, real_root = os.path.realpath(path), os.path.realpath(root)
        if os.path.commonpath([real, real_root]) != real_root:
            raise UnsafePathError(f"{ref!r} is a link to {real}, outside the corpus root {root}")
    return path


def open_root(root: str, corpus: str, layout: str) -> tuple[AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(root)
        exists = fs.exists(path)
    except (ImportError, ValueError) as exc:  # no fsspec backend installed for the scheme
        raise CorpusError(f"{corpus}: cannot open root {root!r}: {exc}") from None
    except Exception as exc:  # credentials, network, permissions: say which, in one line
        raise CorpusError(f"{corpus}: cannot reach root {root!r}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''} (check credentials "
                          "and the endpoint, e.g. AWS_* / FSSPEC_S3_* variables)") from None
    if not exists:
        raise CorpusError(f"{corpus}: root {root!r} does not exist (expected {layout})")
    if not fs.isdir(path):
        raise CorpusError(f"{corpus}: root {root!r} is not a directory (expected {layout})")
    return fs, path.rstrip("/") or "/"


def hash_media(fs: AbstractFileSystem, result: ScanResult, corpus: str, workers: int = 8) -> None:
    """Fill audio_sha256/video_sha256 so the dataset version covers media content. Hashes
    come from the cache (etl/media/hashcache.py) where the file is unchanged; the rest are
    read, in parallel, and cached.

    A file that cannot be read here is recorded and its row dropped: it could not be decoded.
    """
    paths = sorted({p for row in result.rows for p in (row.audio_path, row.video_path) if p})
    cache = HashCache()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        stamps = dict(zip(paths, pool.map(lambda p: stamp(fs, p), paths), strict=True))
        uris = {p: to_uri(fs, p) for p in paths}
        cached = cache.get({uris[p]: s for p, s in stamps.items() if s is not None})
        todo = [p for p in paths if uris[p] not in cached]

        def one(path: str) -> tuple[str, str | Exception]:
            try:
                return path, sha256_file(fs, path)
            except OSError as exc:
                return path, exc

        digests: dict[str, str | Exception] = {p: cached[uris[p]] for p in paths
                                               if uris[p] in cached}
        digests.update(pool.map(one, todo))
    cache.put([(uris[p], stamps[p], d) for p, d in digests.items()
               if p in todo and stamps[p] is not None and isinstance(d, str)])
    cache.close()
    kept = []
    for row in result.rows:
        bad = [p for p in (row.audio_path, row.video_path) if p and
               isinstance(digests[p], Exception)]
        for path in bad:
            result.problem(corpus, path, "UnreadableFile", f"cannot read media: {digests[path]}")
        if bad:
            continue
        if row.audio_path:
            row.audio_uri, row.audio_sha256 = uris[row.audio_path], digests[row.audio_path]
        if row.video_path:
            row.video_uri, row.video_sha256 = uris[row.video_path], digests[row.video_path]
        kept.append(row)
    result.rows = kept


UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def safe_id(native: str) -> str:
    """An utt_id usable as a WebDataset key and a file name: no dots, slashes or spaces."""
    return UNSAFE_ID_CHARS.sub("-", native)


def manifest_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (`Row.manifest()`) -> validated manifest table, sorted by utt_id (the order every
    output follows)."""
    full = []
    for found in sorted(rows, key=lambda r: safe_id(r["utt_id"])):
        out = {name: found[name] for name in MANIFEST_SCHEMA.names}
        out["utt_id"] = safe_id(out["utt_id"])
        if isinstance(out["meta"], dict):
            out["meta"] = json.dumps(out["meta"], sort_keys=True, ensure_ascii=False)
        out["label_status"] = out["label_status"] or "unlabeled"
        full.append(out)
    table = pa.Table.from_pylist(full, schema=MANIFEST_SCHEMA)
    return validate_table(table, MANIFEST_SCHEMA, "manifest")


def ratings_table(ratings: list[dict[str, Any]], manifest: pa.Table) -> pa.Table:
    """Rating rows of the utterances that made it into the manifest, sorted, validated."""
    from mer_etl.schemas import RATINGS_SCHEMA

    kept = set(manifest["utt_id"].to_pylist())
    rows = [{name: r.get(name) for name in RATINGS_SCHEMA.names} | {"utt_id": safe_id(r["utt_id"])}
            for r in ratings]
    rows = sorted((r for r in rows if r["utt_id"] in kept),
                  key=lambda r: (r["utt_id"], r["rater"], r["source"] or ""))
    return validate_table(pa.Table.from_pylist(rows, schema=RATINGS_SCHEMA), RATINGS_SCHEMA,
                          "ratings")


class LabelFileError(ValueError):
    """Malformed content in a corpus's label or transcript file, located to the line."""

    def __init__(self, path: str, line: int | str, expected: str, got: str,
                 error_type: str = "MalformedLine") -> None:
        # line: a 1-based line number, or for binary label files the entry (e.g. data/<id>)
        got = got if len(got) <= 120 else got[:117] + "..."
        super().__init__(f"{path}:{line}: expected {expected}, got {got!r}")
        self.path, self.line, self.error_type = path, line, error_type


def read_text(fs: AbstractFileSystem, path: str, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """A text file through fsspec, trying each encoding in turn (corpora are not consistent)."""
    with fs.open(path, "rb") as fh:
        data = fh.read()
    for encoding in encodings:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
    raise LabelFileError(path, 1, f"text in {' or '.join(encodings)}", "undecodable bytes")


def csv_records(text: str, path: str, required: list[str], bad: list[LabelFileError],
                delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each well-formed data row of a CSV whose header has the required
    columns. A malformed row is appended to `bad` and skipped: it costs that row, never the
    file. Only an unusable header raises (then no row of the file can be read)."""
    import csv
    import io

    try:
        # a TSV has no quoting: a field that starts with a quote is text, not a quoted field
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                            quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next(reader, None)
    except csv.Error as exc:
        raise LabelFileError(path, 1, "a CSV header", str(exc)) from None
    if header is None:
        raise LabelFileError(path, 1, f"a CSV header with {', '.join(required)}", "an empty file")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise LabelFileError(path, 1, f"a CSV header with columns {', '.join(required)}",
                             ",".join(header))
    last = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad.append(LabelFileError(path, reader.line_num, "a CSV row", str(exc)))
            if reader.line_num == last:  # the reader cannot move past it
                return
            last = reader.line_num
            continue
        last = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            bad.append(LabelFileError(path, reader.line_num, f"{len(header)} fields",
                                      f"{len(values)} fields: {','.join(values)}"))
            continue
        yield reader.line_num, dict(zip(header, values, strict=True))


def csv_rows(text: str, path: str, required: list[str], bad: list[LabelFileError],
             record: Callable[[int, dict[str, str], str], dict[str, Any]], key: str
             ) -> list[dict[str, Any]]:
    """Each well-formed row of a label CSV turned into a record by `record(line, row, path)`;
    a LabelFileError it raises costs that row (appended to `bad`); the first record per `key`
    wins."""
    records = []
    for line, row in csv_records(text, path, required, bad):
        try:
            records.append(record(line, row, path))
        except LabelFileError as exc:
            bad.append(exc)
    return first_wins(records, key, path, bad)


def first_wins(records: list[dict[str, Any]], key: str, path: str,
               bad: list[LabelFileError]) -> list[dict[str, Any]]:
    """Keep the first record of each key; every later duplicate is a counted bad line (the
    publisher's first row is the one public loaders keep when they index by id)."""
    seen: dict[Any, int] = {}
    out = []
    for rec in records:
        if rec[key] in seen:
            bad.append(LabelFileError(path, rec["line"], f"one row per {key} (first at line "
                                      f"{seen[rec[key]]} is kept)", str(rec[key]),
                                      error_type="DuplicateRow"))
            continue
        seen[rec[key]] = rec["line"]
        out.append(rec)
    return out


def to_float(value: str, path: str, line: int, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise LabelFileError(path, line, what, value) from None
    if out != out or out in (float("inf"), float("-inf")):
        raise LabelFileError(path, line, what, value)
    return out


def stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def report_unpaired(result: ScanResult, corpus: str, labelled: dict[str, str],
                    media: dict[str, str], what: str) -> list[str]:
    """Record label rows without media and media without label rows; return paired ids."""
    for key in sorted(set(labelled) - set(media)):
        result.problem(corpus, labelled[key], "LabelWithoutMedia",
                       f"{key}: labelled in this file but no {what} was found")
    for key in sorted(set(media) - set(labelled)):
        result.problem(corpus, media[key], "MediaWithoutLabel",
                       f"{key}: no label row for this {what}")
    return sorted(set(labelled) & set(media))
