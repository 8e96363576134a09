"""A self-contained HTML report of a dataset version, with its plots also written as PNG."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import polars as pl

from mer_etl.layout import LAYOUT
from mer_etl.report_items import extractor_sections, png, read, table
from mer_etl.report_labels import agreement_section, modality_confusion_section
from mer_etl.store import Store, resolve_dataset


def _status(store: Store, card: dict[str, Any]) -> pl.DataFrame:
    parts = LAYOUT.status_parts(list(card["files"]))
    # diagonal: status parts written before sample_rate existed lack that column
    return (pl.concat([read(store, rel) for rel in parts], how="diagonal_relaxed") if parts
            else pl.DataFrame())


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
    return png(fig, out, "labels")


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
    return png(fig, out, "vad")


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
    return png(fig, out, "durations")


def speaker_overlap(utts: pl.DataFrame) -> pl.DataFrame:
    """Per corpus: speakers whose utterances sit in more than one split (leakage), with the
    splits and utterance counts; empty when every speaker stays in one split."""
    known = utts.filter(pl.col("speaker").is_not_null() & pl.col("split").is_not_null())
    per = known.group_by(["corpus", "speaker"]).agg(
        pl.col("split").unique().sort().alias("splits"), pl.len().alias("utterances"))
    leaking = per.filter(pl.col("splits").list.len() > 1)
    return leaking.with_columns(pl.col("splits").list.join(", ")).sort(["corpus", "speaker"])


def _leakage_section(utts: pl.DataFrame) -> str:
    leaking = speaker_overlap(utts)
    speakers = utts.filter(pl.col("speaker").is_not_null()).group_by("corpus").agg(
        pl.col("speaker").n_unique().alias("speakers"),
        pl.col("split").n_unique().alias("splits")).sort("corpus")
    summary = speakers.join(leaking.group_by("corpus").agg(
        pl.len().alias("speakers in several splits"),
        pl.col("utterances").sum().alias("their utterances")), on="corpus", how="left"
    ).fill_null(0)
    verdict = ("<p class='ok'>no speaker appears in more than one split</p>"
               if leaking.is_empty() else
               f"<p class='bad' id='leakage'>{leaking.height} speaker(s) appear in more than one "
               "split: a speaker-independent evaluation would be wrong</p>")
    return verdict + table(summary) + ("" if leaking.is_empty() else table(leaking))


def _balance_section(utts: pl.DataFrame) -> str:
    """Per corpus and split: classes present and how lopsided they are."""
    labelled = utts.filter(pl.col("label").is_not_null()).with_columns(
        pl.col("split").fill_null("(none)"))
    if labelled.is_empty():
        return "<p class='muted'>no categorical labels</p>"
    counts = labelled.group_by(["corpus", "split", "label"]).len()
    balance = counts.group_by(["corpus", "split"]).agg(
        pl.col("len").sum().alias("labelled"), pl.len().alias("classes"),
        pl.col("label").sort_by("len").last().alias("largest class"),
        (pl.col("len").max() / pl.col("len").sum()).round(3).alias("largest share"),
        pl.col("label").sort_by("len").first().alias("smallest class"),
        (pl.col("len").max() / pl.col("len").min()).round(1).alias("largest / smallest"),
    ).sort(["corpus", "split"])
    return table(balance)


def _sample_rate_section(status: pl.DataFrame, utts: pl.DataFrame) -> str:
    if status.is_empty() or "sample_rate" not in status.columns:
        return "<p class='muted'>no media decoded at its own rate (run egemaps to record it)</p>"
    rates = (status.unique("utt_id").join(utts.select(["utt_id", "corpus"]), on="utt_id")
             .filter(pl.col("sample_rate").is_not_null())
             .group_by(["corpus", "sample_rate"]).len().sort(["corpus", "sample_rate"]))
    if rates.is_empty():
        return "<p class='muted'>no media decoded at its own rate (run egemaps to record it)</p>"
    mixed = rates.group_by("corpus").len().filter(pl.col("len") > 1)["corpus"].to_list()
    note = (f"<p class='bad'>mixed sample rates in {html.escape(', '.join(mixed))}: features "
            "that are not rate-invariant (eGeMAPS) differ by rate</p>" if mixed else "")
    return note + table(rates.rename({"sample_rate": "sample rate (Hz)"}))


def _reconciliation_section(card: dict[str, Any]) -> str:
    items = card.get("counts", {}).get("reconciliation") or []
    if not items:
        return "<p class='muted'>no publisher counts for these corpora (or a sample run)</p>"
    df = pl.DataFrame([{"corpus": i["corpus"], "subset": i["subset"], "split": i["split"],
                        "found": i["found"], "expected": i["expected"],
                        "short": max(0, i["expected"] - i["found"]),
                        "problems behind a shortfall": ", ".join(
                            f"{k} {v}" for k, v in sorted(i["causes"].items())),
                        "warning": "yes" if i["warning"] else ""} for i in items])
    return table(df)


def _errors_section(errors: pl.DataFrame) -> str:
    """Counts by stage and type, each linking to the rows behind it."""
    if errors.is_empty():
        return "<p class='ok'>no errors</p>"
    groups = errors.group_by(["stage", "error_type"]).len().sort("len", descending=True)
    rows, details = [], []
    for i, g in enumerate(groups.iter_rows(named=True)):
        anchor = f"errors-{i}"
        rows.append(f"<tr><td>{html.escape(g['stage'])}</td><td><a href='#{anchor}'>"
                    f"{html.escape(g['error_type'])}</a></td><td>{g['len']}</td></tr>")
        these = errors.filter((pl.col("stage") == g["stage"]) &
                              (pl.col("error_type") == g["error_type"]))
        details.append(f"<h3 id='{anchor}'>{html.escape(g['stage'])}: "
                       f"{html.escape(g['error_type'])} ({g['len']})</h3>"
                       + table(these.select(["corpus", "utt_id", "path", "message"]), limit=50))
    return ("<table><tr><th>stage</th><th>error type</th><th>rows</th></tr>"
            + "".join(rows) + "</table>" + "".join(details))


def build_report(path: str, out: str | Path) -> Path:
    """Write report.html (self-contained) and the PNG plots into `out`; return the HTML path."""
    store = resolve_dataset(path)
    card = store.read_card()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utts, errors = read(store, LAYOUT.utterances), read(store, LAYOUT.errors)
    status = _status(store, card)
    by_split = (utts.with_columns(pl.col("label").fill_null("(null)"),
                                  pl.col("split").fill_null("(none)"))
                .group_by(["corpus", "label", "split"]).len()
                .pivot(on="split", index=["corpus", "label"], values="len", sort_columns=True)
                .fill_null(0).sort(["corpus", "label"]))
    mapping = (utts.group_by(["corpus", "label_native", "label_native_name", "label",
                              "label_status"]).len().sort(["corpus", "label_native"]))
    per_status = (status.group_by(["extractor", "status"]).len().sort(["extractor", "status"])
                  if not status.is_empty() else pl.DataFrame())
    sections = [
        ("Utterances per corpus, split and canonical label", _label_plot(utts, out)
         + table(by_split)),
        ("Speaker overlap between splits", _leakage_section(utts)),
        ("Class balance per split", _balance_section(utts)),
        ("Utterances vs the publishers' counts", _reconciliation_section(card)),
        ("Native label -> canonical label", table(mapping)),
        ("Annotator agreement", agreement_section(card)),
        ("Perceived label by presentation modality", modality_confusion_section(utts, out)),
        ("Valence, arousal, dominance per corpus", _vad_plot(utts, out)),
        ("Durations", _duration_plot(status, out)),
        ("Sample rates", _sample_rate_section(status, utts)),
        ("Extractor status", table(per_status)),
        *extractor_sections(store, card, utts, out),
        ("Errors by stage and type", _errors_section(errors)),
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
.ok {{ color: #1a7f37; }} .bad {{ color: #b42318; font-weight: bold; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; font-size: 11px; text-align: center; }} img.crop {{ width: 112px; }}
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
