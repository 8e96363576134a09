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
import string
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

import fsspec
import yaml
from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
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
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

FIELDS = ["media", "utt_id", "speaker", "split", "start", "end", "transcript", "label",
          "valence", "arousal", "dominance", "gender", "language", "video", "intensity",
          "open_vocab", "description", "description_language", "caption_speaker",
          "caption_style", "caption_emotion", "caption_overall"]
CAPTIONS = ("speaker", "style", "emotion", "overall")
VOCAB_SEPARATORS = re.compile(r"\s*[;,|]\s*")
NUMERIC = {"start", "end", "valence", "arousal", "dominance"}
CORPUS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ROOT = "{root}"  # in manifest / media_root: the corpus root the run was given


@dataclass
class JobSpec:
    corpus: str
    title: str = ""
    language: str | None = None
    modality: str = "audio"  # audio | audio-visual | text: what the corpus holds
    license: str = ""  # a note on the terms, shown by `mer-etl corpora`
    example: str = ""  # the layout in words, e.g. "f2/gio-f2-b2.wav (emotion-actor-sentence)"
    # pattern mode: the utterance id is the file name's stem, or (`path`) the path under the
    # root without its extension, for corpora that reuse file names across folders
    id_from: str = "stem"
    # pattern mode: the id from the pattern's groups, e.g. "{speaker}-{label}-{sentence}", for
    # corpora whose file names repeat across folders (overrides id_from)
    id_format: str | None = None
    # pattern mode: the row's video, a path under the root formatted from the groups (e.g.
    # "{speaker}/video/front/{label}/{take}.mp4"); used where that file exists
    video_format: str | None = None
    # table mode: CSV, TSV, JSONL or Parquet; "{root}/..." is a table inside the corpus root
    # (how a built-in definition names its corpus's own table)
    manifest: str | None = None
    media_root: str | None = None  # table mode: media paths are relative to this ("{root}/..")
    columns: dict[str, str] = field(default_factory=lambda: {"media": "path"})
    # pattern mode: a regex with named groups over paths under the root, or a list of them for
    # a corpus circulating in several layouts (the first that matches a path reads it)
    pattern: str | list[str] | None = None
    # native -> canonical | null (no agreement) | [two canonical classes] (a compound)
    labels: dict[str, str | list[str] | None] = field(default_factory=dict)
    label_names: dict[str, str] = field(default_factory=dict)
    vad_range: tuple[float, float] | None = None
    speakers: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> gender/split
    # pattern mode: files of other speakers are UnexpectedFile (the table lists them all)
    speakers_only: bool = False
    # pattern mode: files matching this but not `pattern` are UnexpectedFile (e.g. '\.wav$')
    unexpected: str | None = None
    # pattern mode: the template of a transcript the corpus implies, over the groups (TESS's
    # carrier phrase "Say the word {word}")
    transcript_format: str | None = None
    # "lower": the label code is matched lower-cased (copies re-cased by hand: "Fear", "fear")
    label_case: str | None = None
    # role -> {from: a pattern group (pattern mode) or a column role (table mode), values:
    # {value -> the role's value}, default: the value for others (optional)}: e.g. gender from
    # a letter, split from a speaker id
    lookups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expected_layout(self) -> str:
        """The layout in words, for errors and `mer-etl corpora`."""
        if self.example:
            return self.example
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
        if (raw.get(key) and base and "://" not in raw[key] and not raw[key].startswith("/")
                and not raw[key].startswith(ROOT)):
            raw[key] = f"{base}/{raw[key]}"
    spec = JobSpec(**{**raw, "columns": {"media": "path", **columns}})
    if bool(spec.manifest) == bool(spec.pattern):
        raise CorpusError(f"{path or 'job'}: give either `manifest:` (a table) or `pattern:` "
                          "(a file-name regex), not both or neither")
    if spec.vad_range is not None:
        spec.vad_range = (float(spec.vad_range[0]), float(spec.vad_range[1]))
    if spec.id_from not in ("stem", "path"):
        raise CorpusError(f"{path or 'job'}: `id_from` must be stem or path, got "
                          f"{spec.id_from!r}")
    for key, value in (*(("pattern", p) for p in patterns(spec)),
                       ("unexpected", spec.unexpected)):
        try:
            re.compile(value or "")
        except re.error as exc:
            raise CorpusError(f"{path or 'job'}: {key} is not a valid regex: {exc}") from None
    if spec.label_case not in (None, "lower"):
        raise CorpusError(f"{path or 'job'}: `label_case` must be lower, got {spec.label_case!r}")
    # a template may name only the groups every layout's pattern has
    compiled = [set(re.compile(p).groupindex) for p in patterns(spec)]
    groups = set.intersection(*compiled) if compiled else set()
    for key in ("id_format", "video_format", "transcript_format"):
        template = getattr(spec, key)
        if template is None:
            continue
        if not spec.pattern:
            raise CorpusError(f"{path or 'job'}: `{key}` needs `pattern:` (it formats the "
                              "pattern's groups)")
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise CorpusError(f"{path or 'job'}: {key} is not a format string: {exc}") from None
        if not names <= groups:
            raise CorpusError(f"{path or 'job'}: {key} names {sorted(names - groups)}, not "
                              f"groups of the pattern ({', '.join(sorted(groups))})")
    for role, lookup in spec.lookups.items():
        if (role not in FIELDS or not isinstance(lookup, dict)
                or not {"from", "values"} <= set(lookup) <= {"from", "values", "default"}):
            raise CorpusError(f"{path or 'job'}: lookups.{role}: expected a role of {FIELDS} "
                              "with `from:` (a pattern group or column role), `values:` (a "
                              "mapping) and optionally `default:`")
    return spec


def patterns(spec: JobSpec) -> list[str]:
    """The job's pattern(s) as a list."""
    if spec.pattern is None:
        return []
    return [spec.pattern] if isinstance(spec.pattern, str) else list(spec.pattern)


# job-file key -> (what a value must be, its description for the error)
TYPES: dict[str, tuple[Any, str]] = {
    "corpus": (str, "a name"), "title": (str, "text"), "language": (str, "an ISO 639-1 code"),
    "modality": (str, "audio, audio-visual or text"), "license": (str, "text"),
    "example": (str, "text"), "id_from": (str, "stem or path"),
    "id_format": (str, "a format string over the pattern's groups"),
    "video_format": (str, "a format string over the pattern's groups"),
    "transcript_format": (str, "a format string over the pattern's groups"),
    "label_case": (str, "lower"),
    "manifest": (str, "a path"), "media_root": (str, "a path"),
    "pattern": (str | list, "a regex or a list of regexes"),
    "columns": (dict, "a mapping role -> column"), "labels": (dict, "a mapping native -> class"),
    "label_names": (dict, "a mapping native -> name"),
    "vad_range": (list, "[min, max]"), "speakers": (dict, "a mapping speaker -> {gender, split}"),
    "speakers_only": (bool, "true or false"), "unexpected": (str, "a regex"),
    "lookups": (dict, "a mapping role -> {from: group, values: {...}}"),
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
        if ok and key == "pattern" and isinstance(value, list):
            ok = bool(value) and all(isinstance(v, str) for v in value)
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
    """Every target is a canonical class, null, or a compound of two different classes."""
    def ok(v: Any) -> bool:
        if isinstance(v, list):
            return len(set(v)) == 2 and set(v) <= set(labels.classes)
        return v is None or v in labels.classes

    bad = {k: v for k, v in spec.labels.items() if not ok(v)}
    if bad:
        raise CorpusError(f"{spec.corpus}: label map targets {bad} are not canonical classes "
                          f"(or compounds of two); known: {', '.join(labels.classes)}")


def label_section(spec: JobSpec) -> dict[str, Any]:
    """The job's facts and label map as a corpus section of the label schema, so its labels go
    through the same mapper as every built-in corpus's (a null target: no_agreement)."""
    def entry(native: str, target: Any) -> dict[str, Any]:
        name = spec.label_names.get(native, native)
        if target is None:
            return {"native": name, "status": "no_agreement"}
        if isinstance(target, list):  # a compound expression: fearful + surprised
            return {"native": name, "compound": list(target)}
        return {"native": name, "canonical": target}

    section: dict[str, Any] = {"title": spec.title or spec.corpus, "labels": {
        native: entry(native, target) for native, target in spec.labels.items()}}
    if spec.language:
        section["language"] = spec.language
    if spec.vad_range is not None:
        section["dimensions"] = {d: list(spec.vad_range)
                                 for d in ("valence", "arousal", "dominance")}
    return section


def _records(fs: AbstractFileSystem, path: str, bad: list[LabelFileError]
             ) -> Iterator[tuple[int | str, dict[str, Any]]]:
    """(line or row, row) for each row of a CSV, JSONL or Parquet table; a malformed line goes
    to `bad` and costs only itself."""
    if path.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as fh:  # as bytes: no Python file object inside Arrow
            for i, row in enumerate(pq.read_table(pa.BufferReader(fh.read())).to_pylist()):
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
        # a TSV is read as one (its fields hold commas: nEMO's texts), never rewritten to CSV
        yield from csv_records(read_text(fs, path), path, [], bad,
                               delimiter="\t" if path.endswith(".tsv") else ",")
    else:
        raise CorpusError(f"{path}: expected a .csv, .tsv, .jsonl or .parquet manifest")


def _value(row: dict[str, Any], spec: JobSpec, role: str) -> Any:
    col = spec.columns.get(role)
    value = row.get(col) if col else None
    if isinstance(value, str):  # padding is never part of a value (nEMO pads speaker ids)
        value = value.strip()
    return None if value == "" else value


def _lookup(spec: JobSpec, values: dict[str, Any], source: dict[str, Any]) -> None:
    """Fill the roles the job derives from another value (`lookups`)."""
    for role, lookup in spec.lookups.items():
        values[role] = lookup["values"].get(source.get(lookup["from"]), lookup.get("default"))


def _row(spec: JobSpec, rows: RowBuilder, values: dict[str, Any], media: str, path: str,
         loc: int | str) -> Row:
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
    dims = (values.get("valence"), values.get("arousal"), values.get("dominance"))
    if any(v is not None for v in dims) and spec.vad_range is None:
        raise LabelFileError(path, loc, "a vad_range (native min and max) in the job for "
                             "valence/arousal/dominance", "none")
    row = rows.row(
        safe_id(str(values.get("utt_id") or stem(media))), audio=media,
        video=values.get("video"), speaker=None if speaker is None else str(speaker),
        code=None if values.get("label") is None else str(values["label"]), vad=dims,
        gender=values.get("gender") or info.get("gender"),
        split=values.get("split") or info.get("split"), start=values.get("start"),
        end=values.get("end"), transcript=values.get("transcript"),
        intensity_native=values.get("intensity"), meta={"source": where},
        open_vocab=[w for w in VOCAB_SEPARATORS.split(str(values.get("open_vocab") or ""))
                    if w] or None,
        descriptions=[{"text": str(values["description"]),
                       "language": values.get("description_language") or spec.language,
                       "source": "human"}] if values.get("description") else None,
        caption={k: values.get(f"caption_{k}") for k in CAPTIONS}
        if any(values.get(f"caption_{k}") for k in CAPTIONS) else None)
    row.language = values.get("language") or row.language
    return row


def make_adapter(spec: JobSpec) -> Adapter:
    def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
        check_labels(spec, labels)
        if spec.labels or spec.corpus not in labels.corpora:
            labels = labels.with_corpus(spec.corpus, label_section(spec))
        # else a definition without a label map: the reviewed section of the label schema
        rows = RowBuilder(spec.corpus, labels)
        if spec.pattern:
            return _scan_pattern(spec, rows, fs, root)
        # a table inside the corpus: "{root}/data.tsv", media under "{root}/samples"
        inside = replace(spec, manifest=(spec.manifest or "").replace(ROOT, root),
                         media_root=(spec.media_root or "").replace(ROOT, root) or None)
        media_root = inside.media_root if (spec.media_root or "").startswith(ROOT) else root
        return _scan_table(inside, rows, fs, media_root)

    return Adapter(name=spec.corpus, layout=spec.expected_layout(), scan=scan, title=spec.title,
                   modality=spec.modality, license=spec.license)


def _scan_table(spec: JobSpec, rows: RowBuilder, fs: AbstractFileSystem, root: str
                ) -> ScanResult:
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
        _lookup(spec, values, dict(values))
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
        out = _built(spec, rows, fs, root, values, media, (mpath, loc), where, result)
        if out is None:
            continue
        if out.utt_id in seen:
            result.problem(spec.corpus, where, "DuplicateRow", f"utt_id {out.utt_id} already "
                           f"at {seen[out.utt_id]}; the first row is kept")
            continue
        seen[out.utt_id] = where
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


def _built(spec: JobSpec, rows: RowBuilder, fs: AbstractFileSystem, root: str,
           values: dict[str, Any], media: str, loc: tuple[str, int | str], where: str,
           result: ScanResult) -> Row | None:
    """The row of one table line or matched file (`loc`: the file and line or path its values
    came from), or None with the reason recorded against `where`."""
    values["video"] = _video(spec, fs, root, values.get("video"), where, result)
    try:
        return _row(spec, rows, values, media, *loc)
    except (UnknownLabelError, LabelFileError) as exc:
        result.problem(spec.corpus, where, _kind(exc), str(exc))
        return None


def _kind(exc: Exception) -> str:
    return "UnknownLabel" if isinstance(exc, UnknownLabelError) else "LabelFileError"


def _scan_pattern(spec: JobSpec, rows: RowBuilder, fs: AbstractFileSystem, root: str
                  ) -> ScanResult:
    result = ScanResult()
    layouts = [re.compile(p) for p in patterns(spec)]
    unexpected = re.compile(spec.unexpected) if spec.unexpected else None
    names = {g: None for p in layouts for g in p.groupindex}  # every layout's groups, in order
    extra = [g for g in names if g not in FIELDS]  # kept in meta by name
    seen: dict[str, str] = {}
    for path in walk_files(fs, root, result, spec.corpus):
        rel = str(PurePosixPath(path).relative_to(root))
        m = next((m for p in layouts if (m := p.search(rel))), None)
        if not m:
            if unexpected is not None and unexpected.search(rel):
                expected = " or ".join(patterns(spec))
                result.problem(spec.corpus, path, "UnexpectedFile",
                               f"expected a path matching {expected}")
            continue
        if spec.speakers_only and m.groupdict().get("speaker") not in spec.speakers:
            result.problem(spec.corpus, path, "UnexpectedFile",
                           f"speaker {m.groupdict().get('speaker')!r}: expected one of "
                           f"{sorted(spec.speakers)}")
            continue
        roles = set(m.re.groupindex) & set(FIELDS)
        values = {role: m.group(role) for role in roles}
        groups = {k: v or "" for k, v in m.groupdict().items()}
        if spec.id_format:
            values["utt_id"] = spec.id_format.format(**groups)
        elif spec.id_from == "path" and "utt_id" not in values:
            values["utt_id"] = rel.rsplit(".", 1)[0]
        if spec.label_case == "lower" and values.get("label"):
            values["label"] = values["label"].lower()
        if spec.transcript_format:
            values["transcript"] = spec.transcript_format.format(**groups)
        _lookup(spec, values, m.groupdict())
        if spec.video_format:
            video = spec.video_format.format(**groups)
            values["video"] = video if fs.isfile(f"{root}/{video}") else None
        row = _built(spec, rows, fs, root, values, path, (root, rel), path, result)
        if row is None:
            continue
        if row.utt_id in seen:  # one id, two files: the first is kept, the second reported
            result.problem(spec.corpus, path, "DuplicateFile",
                           f"utt_id {row.utt_id} already given by {seen[row.utt_id]}")
            continue
        seen[row.utt_id] = rel
        # the path within the corpus (not the root: a moved corpus keeps its rows)
        row.meta = {"source": rel, **{g: m.groupdict().get(g) for g in extra}}
        result.rows.append(row)
    return result
