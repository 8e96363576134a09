"""Human-readable summaries of a dataset version (rich tables)."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mer_etl.layout import LAYOUT
from mer_etl.store import Store


def label_table(store: Store) -> Table:
    """Utterances per split x canonical label (per corpus when there are several)."""
    with store.fs.open(store.full(LAYOUT.utterances), "rb") as fh:
        df = pl.read_parquet(fh, columns=["corpus", "split", "label"])
    # A corpus without an official split (or a video in no fold) has null splits: shown, not
    # a crash.
    df = df.with_columns(pl.col("label").fill_null("(none)"), pl.col("split").fill_null("(none)"))
    counts = df.group_by(["corpus", "label", "split"]).len().sort(["corpus", "label", "split"])
    splits = sorted(df["split"].unique().to_list())
    table = Table(title="utterances per canonical label and split")
    table.add_column("corpus")
    table.add_column("label")
    for s in splits:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    wide = counts.pivot(on="split", index=["corpus", "label"], values="len").fill_null(0)
    for row in wide.iter_rows(named=True):
        values = [int(row.get(s, 0) or 0) for s in splits]
        table.add_row(row["corpus"], row["label"], *map(str, values), str(sum(values)))
    return table


def timing_table(card: dict[str, Any]) -> Table:
    run = card.get("run", {})
    audio_s = run.get("audio_seconds") or 0.0
    table = Table(title=f"stage timings ({audio_s:.1f} s of audio processed in this run)")
    table.add_column("stage")
    table.add_column("busy seconds", justify="right")
    table.add_column("x real time per worker", justify="right")
    table.add_column("failed", justify="right")
    errors = card.get("counts", {}).get("errors_by_stage", {})
    for stage, secs in run.get("stage_seconds", {}).items():
        xrt = f"{audio_s / secs:.1f}" if secs else "-"
        table.add_row(stage, f"{secs:.2f}", xrt, str(errors.get(stage, 0)))
    return table


def status_table(card: dict[str, Any]) -> Table:
    """Per extractor: utterances ok, skipped and failed, and where its outputs came from."""
    table = Table(title="per-utterance status by extractor")
    for col in ("extractor", "version", "ok", "skipped", "failed", "computed or reused"):
        table.add_column(col, justify="right" if col in ("ok", "skipped", "failed") else "left")
    for name, ex in card["extractors"].items():
        st = ex.get("status", {})
        origin = f"reused from {ex['reused_from']}" if ex.get("reused_from") else "computed"
        table.add_row(name, str(ex["version"]), *(str(st.get(k, 0)) for k in
                                                  ("ok", "skipped", "failed")), origin)
    return table


def reconciliation_table(card: dict[str, Any]) -> Table | None:
    """Found vs the publisher's stated counts, per corpus, subset and split."""
    items = card.get("counts", {}).get("reconciliation") or []
    if not items:
        return None
    table = Table(title="utterances vs the publisher's counts")
    for col in ("corpus", "subset", "split", "found", "expected", "problems behind a shortfall"):
        table.add_column(col, justify="right" if col in ("found", "expected") else "left")
    for item in items:
        style = "yellow" if item["warning"] else None
        causes = ", ".join(f"{k} {v:,}" for k, v in sorted(item["causes"].items()))
        table.add_row(item["corpus"], item["subset"], item["split"], f"{item['found']:,}",
                      f"{item['expected']:,}", causes, style=style)
    return table


def agreement_table(card: dict[str, Any]) -> Table | None:
    """Annotator agreement per corpus and presentation (cards from before labels v2: none)."""
    items = card.get("counts", {}).get("agreement") or []
    if not items:
        return None
    table = Table(title="annotator agreement (Krippendorff's alpha, nominal)")
    for col in ("corpus", "presentation", "from", "units", "votes", "alpha", "mean entropy"):
        table.add_column(col, justify="right" if col in ("units", "votes", "alpha",
                                                         "mean entropy") else "left")
    for a in items:
        table.add_row(a["corpus"], a["presentation"], a["source"], f"{a['units']:,}",
                      f"{a['votes']:,}", "-" if a["alpha"] is None else f"{a['alpha']:.3f}",
                      "-" if a.get("mean_entropy") is None else f"{a['mean_entropy']:.3f}")
    return table


def print_reconciliation(card: dict[str, Any], console: Console) -> None:
    from mer_etl.jobs.reconcile import describe

    table = reconciliation_table(card)
    if table is None:
        return
    console.print(table)
    for item in card["counts"]["reconciliation"]:
        if item["warning"]:
            console.print(f"[yellow]warning[/]: {escape(describe(item))}: more than 1% short "
                          "of the publisher's count", highlight=False)


def print_summary(store: Store, card: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    counts = card["counts"]
    console.print(
        f"[bold]{card['name']}[/] version [bold]{card['version']}[/] at {store.uri}\n"
        f"{counts['utterances']} utterances in {counts['shards']} shard(s), "
        f"{counts['errors']} error(s); label schema {card['label_schema']['version']}; "
        f"extractors: {', '.join(card['extractors']) or 'none'}"
    )
    console.print(label_table(store))
    print_reconciliation(card, console)
    agree = agreement_table(card)
    if agree is not None:
        console.print(agree)
    if "cues" in card.get("views", {}):
        cues = store.read_table(card["views"]["cues"]["table"]).select(["utt_id", "prompt_text"])
        console.print(f"cues view: {cues.num_rows} rows of prompt_text, e.g.")
        for row in cues.slice(0, 3).to_pylist():
            console.print(f"  {escape(row['utt_id'])}: {escape(row['prompt_text'])}",
                          highlight=False)
    if card["extractors"]:
        console.print(status_table(card))
    if card.get("run", {}).get("stage_seconds"):
        console.print(timing_table(card))
    for item in counts.get("unlabeled", []):
        console.print(f"{item['corpus']} {item['label_native'] or '(no code)'}: "
                      f"{item['utterances']} {item['label_status']} -> label null")
    if counts["errors"]:
        console.print(f"[yellow]{counts['errors']} error(s) by stage: "
                      f"{counts['errors_by_stage']}; see {store.uri}/errors.parquet")
