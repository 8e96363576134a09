"""The dataset card's shape (dataset.json), as a JSON Schema: the engine validates every card
before writing it, and readers (read, loaders, report, summary, the CLI) may rely on what is
required here. Extractors add their own facts to their entry (`describe()`), so those entries
stay open; everything the engine itself writes is spelled out.
"""

from __future__ import annotations

from typing import Any

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_STR_OR_NULL = {"type": ["string", "null"]}

CARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mer-etl dataset card",
    "type": "object",
    "required": ["name", "version", "parent", "created", "code", "format_version",
                 "label_schema", "corpora", "config", "extractors", "counts", "views",
                 "provenance", "run", "files"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "parent": _STR_OR_NULL,  # the newest version a unit was reused from
        "created": {"type": "string"},
        "code": {"type": "object", "required": ["mer_etl", "git"],
                 "properties": {"mer_etl": _STR_OR_NULL, "git": _STR_OR_NULL}},
        "format_version": {"type": "integer"},
        "label_schema": {"type": "object", "required": ["version", "sha256"],
                         "properties": {"version": {"type": "string"},
                                        "sha256": {"type": "string"}}},
        "corpora": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["root", "utterances"],
            "properties": {"root": {"type": "string"}, "utterances": {"type": "integer"}}}},
        "config": {"type": "object", "required": ["shard_size"],
                   "properties": {"shard_size": {"type": "integer", "minimum": 1},
                                  "max_seconds": {"type": ["number", "null"]}}},
        "extractors": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["name", "version", "config", "models", "failed", "status",
                         "reused_from"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                           "config": {"type": "object"},
                           "models": {"type": "object",
                                      "additionalProperties": {"type": "string"}},
                           "failed": {"type": "integer"}, "status": _COUNTS,
                           "reused_from": _STR_OR_NULL,
                           # what the report shows (extractors.base.ReportItem)
                           "report": {"type": "array", "items": {
                               "type": "object", "required": ["kind", "title"],
                               "properties": {"columns": {"type": "array", "items": {
                                   "type": "array", "minItems": 2, "maxItems": 2}}}}}}}},
        "counts": {"type": "object",
                   "required": ["utterances", "shards", "errors", "errors_by_stage",
                                "by_split", "by_label", "by_corpus_label", "unlabeled",
                                "problems_by_type", "reconciliation"],
                   "properties": {
                       "utterances": {"type": "integer"}, "shards": {"type": "integer"},
                       "errors": {"type": "integer"}, "errors_by_stage": _COUNTS,
                       "by_split": _COUNTS, "by_label": _COUNTS,
                       "by_corpus_label": {"type": "object", "additionalProperties": _COUNTS},
                       "unlabeled": {"type": "array", "items": {
                           "type": "object",
                           "required": ["corpus", "label_native", "label_status",
                                        "utterances"]}},
                       "problems_by_type": _COUNTS,
                       "reconciliation": {"type": "array", "items": {"type": "object"}},
                       # cards before labels v2 have none: still valid
                       "agreement": {"type": "array", "items": {
                           "type": "object",
                           "required": ["corpus", "presentation", "source", "units", "alpha"]}}}},
        "views": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["table", "rows", "sources"],
            "properties": {"table": {"type": "string"}, "rows": {"type": "integer"},
                           "sources": {"type": "object"}}}},
        "provenance": {"type": "object",
                       "required": ["format_version", "manifest_sha256", "config", "extractors",
                                    "label_schema", "units"],
                       "properties": {"units": {"type": "object", "additionalProperties":
                                                {"type": "string"}}}},
        "run": {"type": "object", "required": ["computed", "reused", "wall_seconds"],
                "properties": {"computed": {"type": "array", "items": {"type": "string"}},
                               "reused": {"type": "object"},
                               "wall_seconds": {"type": "number"},
                               "retries": {"type": "integer"}}},
        "files": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["sha256", "bytes"],
            "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "bytes": {"type": "integer", "minimum": 0}}}},
    },
}


class CardError(ValueError):
    """A card that does not have the shape CARD_SCHEMA declares."""


def validate_card(card: dict[str, Any], where: str = "dataset card") -> dict[str, Any]:
    """The card, or CardError naming the first place it breaks the schema."""
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(CARD_SCHEMA).iter_errors(card))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise CardError(f"{where}: at {at}: {error.message}")
    return card
