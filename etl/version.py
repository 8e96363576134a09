"""Dataset versions: a content hash of everything that determines the output files."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa

FORMAT_VERSION = 2  # bump when the output layout changes (2: status parts carry sample_rate)
VERSION_CHARS = 16


def _canonical(value: Any) -> Any:
    """JSON-stable form: floats by repr so 0.1 hashes the same everywhere; NaN spelled out."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def digest(value: Any) -> str:
    payload = json.dumps(_canonical(value), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def table_digest(table: pa.Table) -> str:
    """Order-sensitive hash of a table's rows (the manifest is sorted by utt_id first)."""
    h = hashlib.sha256()
    h.update(json.dumps(table.schema.names).encode())
    for batch in table.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            h.update(json.dumps(_canonical(row), sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def version_inputs(
    manifest: pa.Table,
    config: dict[str, Any],
    extractor_fingerprints: list[dict[str, Any]],
    label_schema: dict[str, str],
) -> dict[str, Any]:
    """What the version hashes; stored in the card as provenance."""
    return {
        "format_version": FORMAT_VERSION,
        "manifest_sha256": table_digest(manifest),
        "config": config,
        "extractors": sorted(extractor_fingerprints, key=lambda f: f["name"]),
        "label_schema": label_schema,
    }


def dataset_version(inputs: dict[str, Any]) -> str:
    return digest(inputs)[:VERSION_CHARS]


def code_revision() -> dict[str, str | None]:
    """The package version and, when running from a git checkout, its commit (not hashed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("mer-etl")
    except PackageNotFoundError:
        pkg = None
    repo = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout.strip()
        rev = rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"mer_etl": pkg, "git": rev}
