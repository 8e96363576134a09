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

from etl.layout import LAYOUT
from etl.store import Store, resolve_dataset


def _read(store: Store, rel: str, columns: list[str] | None = None) -> pl.DataFrame:
    with store.fs.open(store.full(rel), "rb") as fh:
        return pl.read_parquet(fh, columns=columns)


def _status(store: Store, card: dict[str, Any]) -> pl.DataFrame:
    parts = LAYOUT.status_parts(list(card["files"]))
    # diagonal: status parts written before sample_rate existed lack that column
    return (pl.concat([_read(store, rel) for rel in parts], how="diagonal_relaxed") if parts
            else pl.DataFrame())


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
    parts = LAYOUT.feature_parts(name, list(card["files"]))
    if not parts:
        return pl.DataFrame()
    feats = pl.concat([_read(store, rel, ["utt_id", *columns]) for rel in parts])
    return _read(store, LAYOUT.utterances, ["utt_id", "corpus"]).join(feats, on="utt_id")


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
        pl.col("confidence").mean().cast(pl.Float64).round(3).alias("mean word score")
    ).sort("corpus", "language")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(feats["confidence"].drop_nulls().to_list(), bins=20, range=(0, 1))
    ax.set_xlabel("mean word score per utterance")
    ax.set_ylabel("utterances")
    ax.set_title("ASR confidence")
    return _png(fig, out, "asr") + _table(per)


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
    return verdict + _table(summary) + ("" if leaking.is_empty() else _table(leaking))


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
    return _table(balance)


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
    return note + _table(rates.rename({"sample_rate": "sample rate (Hz)"}))


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
    return _table(df)


def _crop_gallery(store: Store, card: dict[str, Any], utts: pl.DataFrame, n: int = 8) -> str:
    if (muted := _not_run(card, "faces", "face crops")) is not None:
        return muted
    feats = _features(store, card, "faces", ["crops"])
    cells, seen = [], set()
    for row in feats.join(utts.select(["utt_id", "label"]), on="utt_id").iter_rows(named=True):
        crop = next((c for c in row["crops"] or [] if c), None)
        if crop is None or (row["corpus"], row["label"]) in seen:
            continue  # one crop per corpus and label: the gallery shows the variety
        seen.add((row["corpus"], row["label"]))
        cells.append(f"<figure><img class='crop' alt='{html.escape(row['utt_id'])}' "
                     f"src='data:image/jpeg;base64,{base64.b64encode(crop).decode()}'>"
                     f"<figcaption>{html.escape(row['utt_id'])}<br>"
                     f"{html.escape(str(row['label']))}</figcaption></figure>")
        if len(cells) == n:
            break
    return f"<div class='gallery'>{''.join(cells)}</div>" if cells else \
        "<p class='muted'>no face found in any utterance</p>"


def _word_timeline(store: Store, card: dict[str, Any], out: Path, n: int = 3) -> str:
    if (muted := _not_run(card, "asr", "transcripts")) is not None:
        return muted
    feats = _features(store, card, "asr", ["text", "words"])
    feats = feats.filter(pl.col("words").list.len() > 0).head(n)
    if feats.is_empty():
        return "<p class='muted'>no utterance has ASR words</p>"
    fig, axes = plt.subplots(feats.height, 1, figsize=(10, 1.3 * feats.height), squeeze=False)
    for ax, row in zip(axes[:, 0], feats.iter_rows(named=True), strict=True):
        for w in row["words"]:
            ax.barh(0, w["end"] - w["start"], left=w["start"], height=0.6, alpha=0.5)
            ax.text((w["start"] + w["end"]) / 2, 0, w["word"], ha="center", va="center",
                    fontsize=8)
        ax.set_yticks([])
        ax.set_xlim(0, max(w["end"] for w in row["words"]) + 0.1)
        ax.set_title(f"{row['utt_id']}: {row['text']}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds from the utterance start")
    fig.tight_layout()
    return _png(fig, out, "words")


EGEMAPS_SHOWN = {"F0semitoneFrom27.5Hz_sma3nz_amean": "mean F0 (semitones from 27.5 Hz)",
                 "loudness_sma3_amean": "mean loudness"}


def _egemaps_by_label(store: Store, card: dict[str, Any], utts: pl.DataFrame, out: Path) -> str:
    if (muted := _not_run(card, "egemaps", "eGeMAPS distributions")) is not None:
        return muted
    names = card["extractors"]["egemaps"].get("functionals") or []  # the card's feature names
    shown = [c for c in EGEMAPS_SHOWN if c in names]
    feats = _features(store, card, "egemaps", shown)
    if feats.is_empty() or not shown:
        return "<p class='muted'>no eGeMAPS features</p>"
    data = feats.join(utts.select(["utt_id", "label"]), on="utt_id").filter(
        pl.col("label").is_not_null())
    labels = sorted(data["label"].unique().to_list())
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 3.2), squeeze=False)
    for ax, col in zip(axes[0], shown, strict=True):
        ax.boxplot([data.filter(pl.col("label") == lab)[col].drop_nulls().to_list()
                    for lab in labels], tick_labels=labels)
        ax.set_title(EGEMAPS_SHOWN[col])
        ax.tick_params(axis="x", rotation=45)
    return _png(fig, out, "egemaps")


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
                       + _table(these.select(["corpus", "utt_id", "path", "message"]), limit=50))
    return ("<table><tr><th>stage</th><th>error type</th><th>rows</th></tr>"
            + "".join(rows) + "</table>" + "".join(details))


def build_report(path: str, out: str | Path) -> Path:
    """Write report.html (self-contained) and the PNG plots into `out`; return the HTML path."""
    store = resolve_dataset(path)
    card = store.read_card()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utts, errors = _read(store, LAYOUT.utterances), _read(store, LAYOUT.errors)
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
         + _table(by_split)),
        ("Speaker overlap between splits", _leakage_section(utts)),
        ("Class balance per split", _balance_section(utts)),
        ("Utterances vs the publishers' counts", _reconciliation_section(card)),
        ("Native label -> canonical label", _table(mapping)),
        ("Valence, arousal, dominance per corpus", _vad_plot(utts, out)),
        ("Durations", _duration_plot(status, out)),
        ("Sample rates", _sample_rate_section(status, utts)),
        ("Extractor status", _table(per_status)),
        ("eGeMAPS per label", _egemaps_by_label(store, card, utts, out)),
        ("Face coverage", _face_section(store, card, out)),
        ("Face crops", _crop_gallery(store, card, utts)),
        ("ASR language and confidence", _asr_section(store, card, out)),
        ("Transcripts with word timings", _word_timeline(store, card, out)),
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
