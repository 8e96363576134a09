"""A self-contained HTML report of a dataset version, with its plots also written as PNG."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import polars as pl

from etl.store import ERRORS, UTTERANCES, Store, resolve_dataset


def _read(store: Store, rel: str, columns: list[str] | None = None) -> pl.DataFrame:
    with store.fs.open(store.full(rel), "rb") as fh:
        return pl.read_parquet(fh, columns=columns)


def _status(store: Store, card: dict[str, Any]) -> pl.DataFrame:
    parts = [rel for rel in sorted(card["files"]) if rel.startswith("status/")]
    return pl.concat([_read(store, rel) for rel in parts]) if parts else pl.DataFrame()


def _table(df: pl.DataFrame, limit: int = 200) -> str:
    if df.is_empty():
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{html.escape('utterances' if c == 'len' else c)}</th>"
                   for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        + "</tr>" for row in df.head(limit).iter_rows())
    more = f"<p class='muted'>{df.height - limit} more rows</p>" if df.height > limit else ""
    return f"<table><tr>{head}</tr>{rows}</table>{more}"


def _png(fig: plt.Figure, out: Path, name: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    (out / f"{name}.png").write_bytes(data)
    return f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"


def _label_plot(utts: pl.DataFrame, out: Path) -> str:
    counts = (utts.with_columns(pl.col("label").fill_null("(null)"))
              .group_by(["corpus", "label"]).len()
              .pivot(on="corpus", index="label", values="len").fill_null(0).sort("label"))
    fig, ax = plt.subplots(figsize=(9, 4))
    bottom = [0] * counts.height
    for corpus in counts.columns[1:]:
        ax.bar(counts["label"], counts[corpus], bottom=bottom, label=corpus)
        bottom = [b + v for b, v in zip(bottom, counts[corpus], strict=True)]
    ax.set_ylabel("utterances")
    ax.set_title("canonical labels per corpus")
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return _png(fig, out, "labels")


def _vad_plot(utts: pl.DataFrame, out: Path) -> str:
    dims = [d for d in ("valence", "arousal", "dominance") if utts[d].null_count() < utts.height]
    if not dims:
        return "<p class='muted'>no corpus in this dataset has dimensional ratings</p>"
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.2), squeeze=False)
    for ax, dim in zip(axes[0], dims, strict=True):
        for corpus in utts["corpus"].unique().sort():
            values = utts.filter(pl.col("corpus") == corpus)[dim].drop_nulls()
            if values.len():
                ax.hist(values.to_list(), bins=20, range=(-1, 1), alpha=0.6, label=corpus)
        ax.set_title(f"{dim} (rescaled to [-1, 1])")
        ax.legend()
    return _png(fig, out, "vad")


def _duration_plot(status: pl.DataFrame, out: Path) -> str:
    if status.is_empty():
        return "<p class='muted'>no extractor ran, so no audio was decoded</p>"
    durations = status.unique("utt_id")["duration_s"].drop_nulls()
    if not durations.len():
        return "<p class='muted'>no decoded audio</p>"
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(durations.to_list(), bins=30)
    ax.set_xlabel("seconds")
    ax.set_ylabel("utterances")
    ax.set_title(f"durations ({durations.sum() / 3600:.2f} h in {durations.len()} utterances)")
    return _png(fig, out, "durations")


def _features(store: Store, card: dict[str, Any], name: str, columns: list[str]
              ) -> pl.DataFrame:
    """Some of an extractor's feature columns with each utterance's corpus."""
    parts = [rel for rel in sorted(card["files"]) if rel.startswith(f"features/{name}/")]
    if not parts:
        return pl.DataFrame()
    feats = pl.concat([_read(store, rel, ["utt_id", *columns]) for rel in parts])
    return _read(store, UTTERANCES, ["utt_id", "corpus"]).join(feats, on="utt_id")


def _not_run(card: dict[str, Any], name: str, what: str) -> str | None:
    if name in card["extractors"]:
        return None
    return f"<p class='muted'>{what}: not run for this dataset (no {name} extractor in the " \
           "card)</p>"


def _face_section(store: Store, card: dict[str, Any], out: Path) -> str:
    if (muted := _not_run(card, "faces", "face coverage")) is not None:
        return muted
    feats = _features(store, card, "faces", ["no_face", "missing_fraction", "tracks"])
    if feats.is_empty():
        return "<p class='muted'>no face features (every video failed or was skipped)</p>"
    per_corpus = feats.group_by("corpus").agg(
        pl.len().alias("utterances"), pl.col("no_face").sum().alias("no_face"),
        (1 - pl.col("missing_fraction")).mean().round(3).alias("mean frames with target face"),
        pl.col("tracks").mean().round(2).alias("mean tracks")).sort("corpus")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist((1 - feats["missing_fraction"]).to_list(), bins=20, range=(0, 1))
    ax.set_xlabel("share of sampled frames with the target face")
    ax.set_ylabel("utterances")
    ax.set_title(f"face coverage ({card['extractors']['faces'].get('backend', '?')} backend)")
    return _png(fig, out, "faces") + _table(per_corpus)


def _asr_section(store: Store, card: dict[str, Any], out: Path) -> str:
    if (muted := _not_run(card, "asr", "ASR")) is not None:
        return muted
    feats = _features(store, card, "asr", ["language", "words"])
    if feats.is_empty():
        return "<p class='muted'>no transcripts (every utterance failed or was skipped)</p>"
    feats = feats.with_columns(pl.col("words").list.len().alias("n_words"),
                               pl.col("words").list.eval(pl.element().struct.field("score"))
                               .list.mean().alias("confidence"))
    per = feats.group_by(["corpus", "language"]).agg(
        pl.len().alias("utterances"), (pl.col("n_words") == 0).sum().alias("no words"),
        pl.col("n_words").mean().round(1).alias("mean words"),
        pl.col("confidence").mean().round(3).alias("mean word score")).sort("corpus", "language")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(feats["confidence"].drop_nulls().to_list(), bins=20, range=(0, 1))
    ax.set_xlabel("mean word score per utterance")
    ax.set_ylabel("utterances")
    ax.set_title("ASR confidence")
    return _png(fig, out, "asr") + _table(per)


def build_report(path: str, out: str | Path) -> Path:
    """Write report.html (self-contained) and the PNG plots into `out`; return the HTML path."""
    store = resolve_dataset(path)
    card = store.read_card()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utts, errors, status = _read(store, UTTERANCES), _read(store, ERRORS), _status(store, card)
    by_split = (utts.with_columns(pl.col("label").fill_null("(null)"),
                                  pl.col("split").fill_null("(none)"))
                .group_by(["corpus", "label", "split"]).len()
                .pivot(on="split", index=["corpus", "label"], values="len", sort_columns=True)
                .fill_null(0).sort(["corpus", "label"]))
    mapping = (utts.group_by(["corpus", "label_native", "label_native_name", "label",
                              "label_status"]).len().sort(["corpus", "label_native"]))
    per_status = (status.group_by(["extractor", "status"]).len().sort(["extractor", "status"])
                  if not status.is_empty() else pl.DataFrame())
    by_stage = errors.group_by(["stage", "error_type"]).len().sort("len", descending=True)
    sections = [
        ("Utterances per corpus, split and canonical label", _label_plot(utts, out)
         + _table(by_split)),
        ("Native label -> canonical label", _table(mapping)),
        ("Valence, arousal, dominance per corpus", _vad_plot(utts, out)),
        ("Durations", _duration_plot(status, out)),
        ("Extractor status", _table(per_status)),
        ("Face coverage", _face_section(store, card, out)),
        ("ASR language and confidence", _asr_section(store, card, out)),
        ("Errors by stage", _table(by_stage) + ("" if errors.is_empty() else _table(
            errors.select(["stage", "corpus", "utt_id", "path", "error_type", "message"]),
            limit=50))),
    ]
    counts = card["counts"]
    body = "".join(f"<h2>{html.escape(t)}</h2>{content}" for t, content in sections)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(card['name'])} {card['version']}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
th {{ background: #f0f0f0; }} .muted {{ color: #777; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(card['name'])} <small>version {card['version']}</small></h1>
<p>{counts['utterances']} utterances in {counts['shards']} shard(s) from
{html.escape(', '.join(card['corpora']))}; label schema {card['label_schema']['version']};
extractors: {html.escape(', '.join(card['extractors']) or 'none')};
{counts['errors']} error(s); created {card['created']}.</p>
{body}
</body></html>
"""
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
