"""Any corpus from a table, or from a file-name pattern, described by a small YAML job file.

Table mode reads CSV, JSONL or Parquet with at least a media column; pattern mode matches a
regular expression with named groups against every file path under the root. Either way the
labels go through the job's own native -> canonical map, checked against the taxonomy, with the
same manifest schema, validation and error reporting as the built-in adapters.
See `jobs/examples/` and the README for worked examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec
import yaml
from fsspec import AbstractFileSystem

from jobs.base import (
    Adapter,
    CorpusError,
    LabelFileError,
    ScanResult,
    UnsafePathError,
    csv_records,
    read_text,
    resolve_inside,
    safe_id,
    stem,
    to_float,
    walk_files,
)
from schemas.labels import LabelSchema, UnknownLabelError, rescale

FIELDS = ["media", "utt_id", "speaker", "split", "start", "end", "transcript", "label",
          "valence", "arousal", "dominance", "gender", "language", "video"]
NUMERIC = {"start", "end", "valence", "arousal", "dominance"}
CORPUS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class JobSpec:
    corpus: str
    title: str = ""
    language: str | None = None
    manifest: str | None = None  # table mode: CSV, JSONL or Parquet
    media_root: str | None = None  # table mode: media paths are relative to this
    columns: dict[str, str] = field(default_factory=lambda: {"media": "path"})
    pattern: str | None = None  # pattern mode: regex with named groups over relative paths
    labels: dict[str, str | None] = field(default_factory=dict)  # native -> canonical | null
    label_names: dict[str, str] = field(default_factory=dict)
    vad_range: tuple[float, float] | None = None
    speakers: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> gender/split

    @property
    def layout(self) -> str:
        if self.pattern:
            return f"files whose path matches {self.pattern}"
        return f"a table {self.manifest} with columns {self.columns}"


def load_job(path: str | None = None, **overrides: Any) -> JobSpec:
    """A job file (YAML) with command-line overrides on top; relative paths follow the file."""
    raw: dict[str, Any] = {}
    base = ""
    if path:
        with fsspec.open(path, "rt", encoding="utf-8") as fh:
            try:
                raw = yaml.safe_load(fh) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 1 if mark else 1
                raise LabelFileError(path, line, "a YAML job file", str(exc)) from None
        if not isinstance(raw, dict):
            raise LabelFileError(path, 1, "a YAML mapping", type(raw).__name__)
        base = path.rsplit("/", 1)[0] if "/" in path else "."
    _check_types(raw, path or "job")
    columns = {**raw.get("columns", {}), **overrides.pop("columns", {})}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(raw) - {f.name for f in JobSpec.__dataclass_fields__.values()} - {"columns"}
    if unknown:
        raise CorpusError(f"{path or 'job'}: unknown keys {sorted(unknown)}")
    if "corpus" not in raw or not CORPUS_NAME_RE.match(str(raw["corpus"])):
        raise CorpusError(f"{path or 'job'}: expected a corpus name (`corpus:` in the job file "
                          f"or --corpus-name), lower-case such as my_corpus, got "
                          f"{raw.get('corpus')!r}")
    bad = set(columns) - set(FIELDS)
    if bad:
        raise CorpusError(f"{path or 'job'}: unknown column roles {sorted(bad)}; known: {FIELDS}")
    for key in ("manifest", "media_root"):
        if raw.get(key) and base and "://" not in raw[key] and not raw[key].startswith("/"):
            raw[key] = f"{base}/{raw[key]}"
    spec = JobSpec(**{**raw, "columns": {"media": "path", **columns}})
    if bool(spec.manifest) == bool(spec.pattern):
        raise CorpusError(f"{path or 'job'}: give either `manifest:` (a table) or `pattern:` "
                          "(a file-name regex), not both or neither")
    if spec.vad_range is not None:
        spec.vad_range = (float(spec.vad_range[0]), float(spec.vad_range[1]))
    if spec.pattern:
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            raise CorpusError(f"{path or 'job'}: pattern is not a valid regex: {exc}") from None
    return spec


# job-file key -> (what a value must be, its description for the error)
TYPES: dict[str, tuple[Any, str]] = {
    "corpus": (str, "a name"), "title": (str, "text"), "language": (str, "an ISO 639-1 code"),
    "manifest": (str, "a path"), "media_root": (str, "a path"), "pattern": (str, "a regex"),
    "columns": (dict, "a mapping role -> column"), "labels": (dict, "a mapping native -> class"),
    "label_names": (dict, "a mapping native -> name"),
    "vad_range": (list, "[min, max]"), "speakers": (dict, "a mapping speaker -> {gender, split}"),
}


def _check_types(raw: dict[str, Any], where: str) -> None:
    """A job file value of the wrong type is one clear error naming the key, not a traceback
    from deep inside the adapter."""
    for key, value in raw.items():
        if key not in TYPES or value is None:
            continue
        kind, what = TYPES[key]
        ok = isinstance(value, kind)
        if ok and key == "vad_range":
            ok = len(value) == 2 and all(isinstance(v, int | float) for v in value)
        if ok and key == "speakers":
            ok = all(isinstance(v, dict) for v in value.values())
        if ok and key in ("columns", "label_names"):
            ok = all(isinstance(v, str) for v in value.values())
        if not ok:
            raise CorpusError(f"{where}: `{key}` must be {what}, got {value!r}")


def load_label_map(path: str) -> dict[str, str | None]:
    """native -> canonical from a YAML or JSON file (JSON is YAML)."""
    with fsspec.open(path, "rt", encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise LabelFileError(path, mark.line + 1 if mark else 1, "a YAML or JSON mapping",
                                 str(exc).splitlines()[0]) from None
    if not isinstance(data, dict):
        raise LabelFileError(path, 1, "a mapping native label -> canonical class",
                             type(data).__name__)
    return {str(k): v for k, v in data.items()}


def default_root(spec: JobSpec) -> str:
    """Table mode: media paths are relative to media_root, else to the table's folder."""
    if spec.media_root:
        return spec.media_root
    if not spec.manifest:
        raise CorpusError(f"{spec.corpus}: a pattern job needs --root (the corpus folder)")
    return spec.manifest.rsplit("/", 1)[0] if "/" in spec.manifest else "."


def check_labels(spec: JobSpec, labels: LabelSchema) -> None:
    bad = {k: v for k, v in spec.labels.items() if v is not None and v not in labels.classes}
    if bad:
        raise CorpusError(f"{spec.corpus}: label map targets {bad} are not canonical classes; "
                          f"known: {', '.join(labels.classes)}")


def _records(fs: AbstractFileSystem, path: str, bad: list[LabelFileError]
             ) -> Iterator[tuple[int | str, dict[str, Any]]]:
    """(line or row, row) for each row of a CSV, JSONL or Parquet table; a malformed line goes
    to `bad` and costs only itself."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as fh:
            for i, row in enumerate(pq.read_table(fh).to_pylist()):
                yield f"row {i}", row
    elif path.endswith((".jsonl", ".ndjson")):
        for n, raw in enumerate(read_text(fs, path).splitlines(), start=1):
            if raw.strip():
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError:
                    bad.append(LabelFileError(path, n, "one JSON object per line", raw))
                    continue
                if not isinstance(row, dict):
                    bad.append(LabelFileError(path, n, "a JSON object", raw))
                    continue
                yield n, row
    elif path.endswith((".csv", ".tsv")):
        text = read_text(fs, path)
        if path.endswith(".tsv"):
            text = text.replace("\t", ",")
        yield from csv_records(text, path, [], bad)
    else:
        raise CorpusError(f"{path}: expected a .csv, .tsv, .jsonl or .parquet manifest")


def _value(row: dict[str, Any], spec: JobSpec, role: str) -> Any:
    col = spec.columns.get(role)
    value = row.get(col) if col else None
    return None if value == "" else value


def _labels(spec: JobSpec, native: str | None) -> dict[str, Any]:
    if native is None:
        return {"label_status": "unlabeled"}
    if native not in spec.labels:
        raise UnknownLabelError(f"{spec.corpus}: unknown label code {native!r}; valid codes: "
                                f"{', '.join(sorted(spec.labels))}")
    canonical = spec.labels[native]
    return {"label_native": native, "label_native_name": spec.label_names.get(native, native),
            "label": canonical, "label_status": "labeled" if canonical else "no_agreement"}


def _row(spec: JobSpec, values: dict[str, Any], media: str, path: str,
         loc: int | str) -> dict[str, Any]:
    """One manifest row; LabelFileError / UnknownLabelError say what is wrong where."""
    where = f"{path}:{loc}"
    for role in NUMERIC & set(values):
        if values[role] is not None:
            values[role] = to_float(str(values[role]), path, loc, f"a number for {role}")
    start, end = values.get("start"), values.get("end")
    if (start is not None and start < 0) or (end is not None and end <= (start or 0.0)):
        raise LabelFileError(path, loc, "a span with 0 <= start < end", f"{start} - {end}")
    speaker = values.get("speaker")
    info = spec.speakers.get(str(speaker), {}) if speaker is not None else {}
    row = {
        "utt_id": f"{spec.corpus}_{safe_id(str(values.get('utt_id') or stem(media)))}",
        "corpus": spec.corpus,
        "speaker": f"{spec.corpus}_{speaker}" if speaker is not None else None,
        "gender": values.get("gender") or info.get("gender"),
        "language": values.get("language") or spec.language,
        "split": values.get("split") or info.get("split"),
        "_audio_path": media,
        "_video_path": values.get("video"),
        "start": values.get("start"),
        "end": values.get("end"),
        "transcript": values.get("transcript"),
        **_labels(spec, None if values.get("label") is None else str(values["label"])),
        "meta": {"source": where},
    }
    dims = [values.get(d) for d in ("valence", "arousal", "dominance")]
    if any(v is not None for v in dims):
        if spec.vad_range is None:
            raise LabelFileError(path, loc, "a vad_range (native min and max) in the job for "
                                 "valence/arousal/dominance", "none")
        lo, hi = spec.vad_range
        for dim, v in zip(("valence", "arousal", "dominance"), dims, strict=True):
            row[f"{dim}_native"], row[dim] = v, rescale(v, lo, hi)
        row["vad_native_min"], row["vad_native_max"] = lo, hi
    return row


def make_adapter(spec: JobSpec) -> Adapter:
    def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
        check_labels(spec, labels)
        return _scan_pattern(spec, fs, root) if spec.pattern else _scan_table(spec, fs, root)

    return Adapter(name=spec.corpus, title=spec.title or spec.corpus, layout=spec.layout,
                   scan=scan)


def _scan_table(spec: JobSpec, fs: AbstractFileSystem, root: str) -> ScanResult:
    result = ScanResult()
    assert spec.manifest is not None
    mfs, mpath = fsspec.core.url_to_fs(spec.manifest)
    if not mfs.exists(mpath):
        raise CorpusError(f"{spec.corpus}: manifest {spec.manifest!r} does not exist")
    first = True
    bad: list[LabelFileError] = []
    seen: dict[str, str] = {}
    for loc, row in _records(mfs, mpath, bad):
        where = f"{mpath}:{loc}"
        if first:
            missing = [f"{c!r} ({role})" for role, c in spec.columns.items() if c not in row]
            if missing:
                raise CorpusError(f"{mpath}: expected columns {', '.join(missing)}; got "
                                  f"{', '.join(map(repr, row))}")
            first = False
        values = {role: _value(row, spec, role) for role in spec.columns}
        if not values.get("media"):
            result.problem(spec.corpus, where, "MissingMedia", "empty media column")
            continue
        try:
            media = resolve_inside(fs, root, str(values["media"]))
        except UnsafePathError as exc:
            result.problem(spec.corpus, where, "UnsafePath", str(exc))
            continue
        if not fs.isfile(media):  # only regular files are media (a FIFO would hang a read)
            kind, why = (("NotARegularFile", "not a regular file (FIFO, socket, device or "
                          "folder)") if fs.exists(media) else ("LabelWithoutMedia",
                                                               "no such media file"))
            result.problem(spec.corpus, media, kind, f"{where}: {why}")
            continue
        values["video"] = _video(spec, fs, root, values.get("video"), where, result)
        try:
            out = _row(spec, values, media, mpath, loc)
        except (UnknownLabelError, LabelFileError) as exc:
            result.problem(spec.corpus, where, _kind(exc), str(exc))
            continue
        if out["utt_id"] in seen:
            result.problem(spec.corpus, where, "DuplicateRow", f"utt_id {out['utt_id']} already "
                           f"at {seen[out['utt_id']]}; the first row is kept")
            continue
        seen[out["utt_id"]] = where
        result.rows.append(out)
    result.bad_lines(spec.corpus, bad)
    return result


def _video(spec: JobSpec, fs: AbstractFileSystem, root: str, ref: Any, where: str,
           result: ScanResult) -> str | None:
    """The video column, under the same path policy as audio and resolved against the same
    root; a bad video reference costs the video, never the row's audio."""
    if not ref:
        return None
    try:
        path = resolve_inside(fs, root, str(ref))
    except UnsafePathError as exc:
        result.problem(spec.corpus, where, "UnsafePath", f"video: {exc}; audio kept")
        return None
    if not fs.isfile(path):
        result.problem(spec.corpus, path, "LabelWithoutMedia", f"{where}: no such video file; "
                       "audio kept")
        return None
    return path


def _kind(exc: Exception) -> str:
    return "UnknownLabel" if isinstance(exc, UnknownLabelError) else "LabelFileError"


def _scan_pattern(spec: JobSpec, fs: AbstractFileSystem, root: str) -> ScanResult:
    result = ScanResult()
    pattern = re.compile(spec.pattern or "")
    roles = set(pattern.groupindex) & set(FIELDS)
    for path in walk_files(fs, root, result, spec.corpus):
        rel = str(PurePosixPath(path).relative_to(root))
        m = pattern.search(rel)
        if not m:
            continue
        values = {role: m.group(role) for role in roles}
        values["video"] = _video(spec, fs, root, values.get("video"), path, result)
        try:
            result.rows.append(_row(spec, values, path, root, rel))
        except (UnknownLabelError, LabelFileError) as exc:
            result.problem(spec.corpus, path, _kind(exc), str(exc))
    return result
