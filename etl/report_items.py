"""The report's building blocks: HTML tables, embedded PNG plots, and one renderer per kind of
item an extractor declares (`Extractor.report()`, recorded in the card). The report draws
whatever the card's extractors ask for; no extractor is named here."""

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

from mer_etl.layout import LAYOUT
from mer_etl.store import Store


def read(store: Store, rel: str, columns: list[str] | None = None) -> pl.DataFrame:
    with store.fs.open(store.full(rel), "rb") as fh:
        return pl.read_parquet(fh, columns=columns)


def table(df: pl.DataFrame, limit: int = 200) -> str:
    if df.is_empty():
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{html.escape('utterances' if c == 'len' else c)}</th>"
                   for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        + "</tr>" for row in df.head(limit).iter_rows())
    more = f"<p class='muted'>{df.height - limit} more rows</p>" if df.height > limit else ""
    return f"<table><tr>{head}</tr>{rows}</table>{more}"


def png(fig: plt.Figure, out: Path, name: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    (out / f"{name}.png").write_bytes(data)
    return f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"


def muted(text: str) -> str:
    return f"<p class='muted'>{html.escape(text)}</p>"


# -- values: what an item's column names -------------------------------------------------

def source_column(value: str) -> str:
    """The feature column a VALUE reads ("1-x" -> x, "words.score" -> words)."""
    return value.removeprefix("1-").split(".", 1)[0]


def expr(value: str) -> pl.Expr:
    """A VALUE as a per-utterance polars expression (see extractors.base.ReportItem)."""
    if value.startswith("1-"):
        return 1 - expr(value[2:])
    column, _, field = value.partition(".")
    if not field:
        return pl.col(column)
    if field == "#":
        return pl.col(column).list.len()
    return pl.col(column).list.eval(pl.element().struct.field(field)).list.mean()


def aggregate(spec: str, heading: str) -> pl.Expr:
    agg, _, value = spec.partition(":")
    e = expr(value)
    out = {"count": lambda: e.count(), "sum": lambda: e.sum(),
           "zero": lambda: (e == 0).sum(),
           "mean": lambda: e.mean().cast(pl.Float64).round(3)}
    if agg not in out:
        raise ValueError(f"report item: unknown aggregation {agg!r} in {spec!r}; known: "
                         f"{', '.join(out)}")
    return out[agg]().alias(heading)


def features(store: Store, card: dict[str, Any], name: str, columns: list[str],
             utts: pl.DataFrame) -> pl.DataFrame:
    """Some of an extractor's feature columns with each utterance's corpus and label."""
    parts = LAYOUT.feature_parts(name, list(card["files"]))
    if not parts:
        return pl.DataFrame()
    with store.fs.open(store.full(parts[0]), "rb") as fh:
        have = set(pl.read_parquet_schema(fh))
    # a column this configuration does not produce is left out, never an error
    wanted = ["utt_id", *(c for c in dict.fromkeys(columns) if c in have)]
    feats = pl.concat([read(store, rel, wanted) for rel in parts])
    return utts.select(["utt_id", "corpus", "label"]).join(feats, on="utt_id")


# -- one renderer per kind -----------------------------------------------------------------

def _histogram(item: dict[str, Any], feats: pl.DataFrame, out: Path, name: str) -> str:
    values = feats.select(expr(item["column"]).alias("v"))["v"].drop_nulls()
    if not values.len():
        return muted("no values")
    fig, ax = plt.subplots(figsize=(6, 3))
    rng = item.get("range")
    ax.hist(values.to_list(), bins=20, range=tuple(rng) if rng else None)
    ax.set_xlabel(item.get("label") or item["column"])
    ax.set_ylabel("utterances")
    ax.set_title(item["title"])
    return png(fig, out, name)


def _by_label(item: dict[str, Any], feats: pl.DataFrame, out: Path, name: str) -> str:
    shown = {c: t for c, t in item["columns"] if source_column(c) in feats.columns}
    data = feats.filter(pl.col("label").is_not_null())
    if data.is_empty() or not shown:
        return muted("no labelled utterance has these features")
    labels = sorted(data["label"].unique().to_list())
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 3.2), squeeze=False)
    for ax, (col, title) in zip(axes[0], shown.items(), strict=True):
        values = data.select(pl.col("label"), expr(col).alias("v"))
        ax.boxplot([values.filter(pl.col("label") == lab)["v"].drop_nulls().to_list()
                    for lab in labels], tick_labels=labels)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=45)
    return png(fig, out, name)


def _per_corpus(item: dict[str, Any], feats: pl.DataFrame) -> str:
    keys = ["corpus", *([item["by"]] if item.get("by") else [])]
    return table(feats.group_by(keys).agg(
        [aggregate(spec, heading) for heading, spec in item["columns"]]).sort(keys))


def _gallery(item: dict[str, Any], feats: pl.DataFrame, n: int = 8) -> str:
    cells, seen = [], set()
    for row in feats.iter_rows(named=True):
        crop = next((c for c in row[item["column"]] or [] if c), None)
        if crop is None or (row["corpus"], row["label"]) in seen:
            continue  # one image per corpus and label: the gallery shows the variety
        seen.add((row["corpus"], row["label"]))
        cells.append(f"<figure><img class='crop' alt='{html.escape(row['utt_id'])}' "
                     f"src='data:image/jpeg;base64,{base64.b64encode(crop).decode()}'>"
                     f"<figcaption>{html.escape(row['utt_id'])}<br>"
                     f"{html.escape(str(row['label']))}</figcaption></figure>")
        if len(cells) == n:
            break
    return f"<div class='gallery'>{''.join(cells)}</div>" if cells else muted("no images")


def _timeline(item: dict[str, Any], feats: pl.DataFrame, out: Path, name: str,
              n: int = 3) -> str:
    col = item["column"]
    feats = feats.filter(pl.col(col).list.len() > 0).head(n)
    if feats.is_empty():
        return muted("no utterance has timed words")
    fig, axes = plt.subplots(feats.height, 1, figsize=(10, 1.3 * feats.height), squeeze=False)
    for ax, row in zip(axes[:, 0], feats.iter_rows(named=True), strict=True):
        for w in row[col]:
            ax.barh(0, w["end"] - w["start"], left=w["start"], height=0.6, alpha=0.5)
            ax.text((w["start"] + w["end"]) / 2, 0, w["word"], ha="center", va="center",
                    fontsize=8)
        ax.set_yticks([])
        ax.set_xlim(0, max(w["end"] for w in row[col]) + 0.1)
        ax.set_title(f"{row['utt_id']}: {' '.join(w['word'] for w in row[col])}", fontsize=9,
                     loc="left")
    axes[-1, 0].set_xlabel("seconds from the utterance start")
    fig.tight_layout()
    return png(fig, out, name)


def _columns(item: dict[str, Any]) -> list[str]:
    values = [item["column"]] if item.get("column") else []
    if item["kind"] == "per_corpus":
        values = [spec.partition(":")[2] for _, spec in item["columns"]]
        values += [item["by"]] if item.get("by") else []
    elif item["kind"] == "by_label":
        values = [column for column, _ in item["columns"]]
    return [c for c in dict.fromkeys(source_column(v) for v in values) if c != "utt_id"]


def _render(item: dict[str, Any], feats: pl.DataFrame, out: Path, png_name: str) -> str:
    kind = item["kind"]
    if kind == "histogram":
        return _histogram(item, feats, out, png_name)
    if kind == "by_label":
        return _by_label(item, feats, out, png_name)
    if kind == "per_corpus":
        return _per_corpus(item, feats)
    if kind == "gallery":
        return _gallery(item, feats)
    if kind == "timeline":
        return _timeline(item, feats, out, png_name)
    return muted(f"a report item of unknown kind {kind!r} (made by a newer mer-etl?)")


def extractor_sections(store: Store, card: dict[str, Any], utts: pl.DataFrame, out: Path
                       ) -> list[tuple[str, str]]:
    """(title, html) for every item the card's extractors declare, in card order."""
    sections = []
    for name, entry in card["extractors"].items():
        items = entry.get("report") or []
        if not items:
            continue
        # one read of the feature parts for all of the extractor's items
        feats = features(store, card, name, [c for i in items for c in _columns(i)], utts)
        plots = 0
        for item in items:
            if feats.is_empty():
                sections.append((item["title"], muted(f"no {name} features (every utterance "
                                                      "failed or was skipped)")))
                continue
            png_name = name if plots == 0 else f"{name}-{plots + 1}"
            plots += item["kind"] in ("histogram", "by_label", "timeline")
            sections.append((item["title"], _render(item, feats, out, png_name)))
    return sections
