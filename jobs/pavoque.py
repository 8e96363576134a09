"""PAVOQUE: one long FLAC per recording part, utterances as time spans in a YAML file beside it.

The corpus (Steiner et al., marytts/pavoque-data) is one male German speaker in a neutral
style and four acted styles named after characters (Poppy happy, Obadiah sad, Spike angry,
"Poker" cool and laid-back). Each part `pavoque-<part>.flac` (angry, happy, neutral, poker,
sad, outtakes) has `pavoque-<part>.yaml`: a list of `{prompt, text, style, start, end,
segments}`, times in seconds into the FLAC. The outtakes part mixes styles, so the label is
each entry's `style`, never the file's name. The prompt id repeats across styles, so the
utterance id is `<prompt>-<style>` (unique in the real files). One speaker means no
speaker-independent split: ours is text-independent, every style of one prompt on the same
side: crc32(prompt) % 10 == 0 test, == 1 validation, else train.
"""

from __future__ import annotations

import zlib
from typing import Any

import yaml
from fsspec import AbstractFileSystem

from mer_etl.jobs.base import Adapter, LabelFileError, ScanResult, basename, read_text
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "pavoque"
LAYOUT = "pavoque-<part>.flac with pavoque-<part>.yaml (prompt, text, style, start, end)"
KEYS = ("prompt", "style", "start", "end")
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the neutral part's file is 5 MB


def split_of(prompt: str) -> str:
    bucket = zlib.crc32(prompt.encode()) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def entries(fs: AbstractFileSystem, path: str, bad: list[LabelFileError]
            ) -> list[tuple[int, dict[str, Any]]]:
    """(line, entry) for each well-formed entry; a malformed one costs only itself."""
    text = read_text(fs, path)
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        bad.append(LabelFileError(path, mark.line + 1 if mark else 1, "a YAML list of "
                                  "utterances", str(exc).splitlines()[0]))
        return []
    if node is None or not isinstance(node, yaml.SequenceNode):
        bad.append(LabelFileError(path, 1, "a YAML list of utterances", type(node).__name__))
        return []
    loader = Loader("")
    out = []
    for item in node.value:
        line = item.start_mark.line + 1
        data = loader.construct_object(item, deep=True)
        if not isinstance(data, dict) or any(data.get(k) is None for k in KEYS):
            bad.append(LabelFileError(path, line, f"an entry with {', '.join(KEYS)}",
                                      repr(data)[:120]))
            continue
        try:
            start, end = float(data["start"]), float(data["end"])
        except (TypeError, ValueError):
            bad.append(LabelFileError(path, line, "numeric start and end",
                                      f"{data['start']!r} - {data['end']!r}"))
            continue
        if not 0 <= start < end:
            bad.append(LabelFileError(path, line, "a span with 0 <= start < end",
                                      f"{start} - {end}"))
            continue
        out.append((line, {**data, "start": start, "end": end}))
    return out


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result, rows = ScanResult(), RowBuilder(CORPUS, labels)
    parts = sorted(p for p in fs.ls(root, detail=False)
                   if basename(p).startswith("pavoque-") and basename(p).endswith(".yaml"))
    seen: dict[str, str] = {}
    for yaml_path in parts:
        part = basename(yaml_path)[len("pavoque-"):-len(".yaml")]
        audio = f"{root}/pavoque-{part}.flac"
        bad: list[LabelFileError] = []
        found = entries(fs, yaml_path, bad)
        result.bad_lines(CORPUS, bad)
        if not fs.isfile(audio):
            result.problem(CORPUS, audio, "LabelWithoutMedia",
                           f"{yaml_path}: no such media file; its {len(found)} utterances "
                           "are left out")
            continue
        for line, e in found:
            where = f"{yaml_path}:{line}"
            native = f"{e['prompt']}-{e['style']}"
            if native in seen:
                result.problem(CORPUS, where, "DuplicateRow",
                               f"{native} already at {seen[native]}; the first is kept")
                continue
            try:
                row = rows.row(native, audio=audio, speaker="stefan", code=str(e["style"]),
                               gender="male", split=split_of(str(e["prompt"])),
                               start=e["start"], end=e["end"], transcript=e.get("text"),
                               meta={"prompt": str(e["prompt"]), "part": part,
                                     "source": f"{basename(yaml_path)}:{line}"})
            except UnknownLabelError as exc:
                result.problem(CORPUS, where, "UnknownLabel", str(exc))
                continue
            seen[native] = where
            result.rows.append(row)
    return result


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
