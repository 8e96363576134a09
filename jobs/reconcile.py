"""Counts reconciled on every manifest: what the publisher states vs what the manifest holds."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mer_etl.jobs.row import Row
from mer_etl.schemas.publisher import CorpusFacts, ExpectedCounts, load_publisher_facts

SHORTFALL_WARN = 0.01  # more than 1% missing is a warning
# problem error types -> the cause category a shortfall is explained with
CAUSES = {
    "LabelWithoutMedia": "missing media", "UnreadableFile": "missing media",
    "MalformedLine": "unparsable rows", "LabelFileError": "unparsable rows",
    "DuplicateRow": "duplicate rows", "UnknownLabel": "unmapped labels",
    "UnexpectedFile": "unrecognised files", "UnsafePath": "refused paths",
    "MissingLabelFile": "missing label file",
}


def flag_known_bad(corpus: str, rows: list[Row], problems: list[dict[str, Any]]) -> None:
    """Rows whose media the publisher documents as broken keep their place, flagged in
    meta.known_issue, and are counted as problems (never silently treated as good)."""
    facts = load_publisher_facts().get(corpus)
    if facts is None or not facts.known_bad:
        return
    for row in rows:
        why = facts.known_bad.get(row.utt_id)
        if why:
            row.meta = {**(row.meta or {}), "known_issue": why}
            problems.append({"corpus": corpus, "utt_id": row.utt_id,
                             "path": row.audio_path or row.audio_uri or "",
                             "stage": "manifest", "error_type": "KnownBadMedia",
                             "message": f"{row.utt_id}: {why}; kept, flagged in meta"})


def reconcile(corpus: str, rows: list[dict[str, Any]], problems: list[dict[str, Any]],
              release: str | None = None) -> list[dict[str, Any]]:
    """One entry per (subset, split or total): found vs expected, and the causes of a shortfall.

    `rows` are manifest rows (meta as a dict or JSON string) of this corpus only.
    """
    facts: CorpusFacts | None = load_publisher_facts().get(corpus)
    if facts is None:
        return []
    causes = Counter(CAUSES.get(p["error_type"], "other problems") for p in problems
                     if p["error_type"] != "KnownBadMedia")
    out = []
    for exp in facts.counts:
        if exp.release is not None and exp.release != release:
            continue
        subset = [r for r in rows if _matches(r, exp)]
        if exp.optional and not subset:
            continue
        by_split = Counter(r.get("split") for r in subset)
        items = [("total", len(subset), exp.total)] if exp.total is not None else []
        items += [(s, by_split.get(s, 0), n) for s, n in exp.splits.items()]
        warned = False  # one warning per subset: its total, else its first short split
        for split, found, expected in items:
            short = expected - found
            warn = bool(expected and short > SHORTFALL_WARN * expected) and not warned
            warned = warned or warn
            out.append({"corpus": corpus, "subset": exp.subset, "split": split, "found": found,
                        "expected": expected, "warning": warn,
                        "causes": dict(causes) if short > 0 else {}, "source": exp.source})
    return out


def label_counts(rows: list[dict[str, Any]], exp: ExpectedCounts) -> dict[str, tuple[int, int]]:
    """native label -> (found, expected) for an entry that states label counts."""
    found = Counter(r.get("label_native") for r in rows if _matches(r, exp))
    return {code: (found.get(code, 0), n) for code, n in exp.labels.items()}


def _matches(row: dict[str, Any], exp: ExpectedCounts) -> bool:
    if not exp.where:
        return True
    meta = row.get("meta") or {}
    if isinstance(meta, str):
        import json

        meta = json.loads(meta)
    return meta.get(exp.where["field"]) == exp.where["value"]


def describe(item: dict[str, Any]) -> str:
    """`meld train: 9,988 of 9,989 (missing media 2)` — one line of the summary."""
    subset = "" if item["subset"] == "all" else f" {item['subset']}"
    causes = ", ".join(f"{k} {v:,}" for k, v in sorted(item["causes"].items()))
    if item["found"] < item["expected"] and not causes:
        causes = "none recorded: is the whole corpus under --root?"
    return (f"{item['corpus']}{subset} {item['split']}: {item['found']:,} of "
            f"{item['expected']:,}" + (f" (problems: {causes})" if causes else ""))
