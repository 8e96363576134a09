"""Report sections on the annotations themselves: how much the raters agree (the card's
Krippendorff's alpha per corpus and presentation) and how the perceived label changes with
what the raters were shown (CREMA-D's audio-only vs audio-visual plurality labels)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import polars as pl

from mer_etl.report_items import muted, png, table


def agreement_section(card: dict[str, Any]) -> str:
    items = card.get("counts", {}).get("agreement") or []
    if not items:
        return muted("no votes or ratings in these corpora (or a dataset from before labels v2)")
    return table(pl.DataFrame([{k: a.get(k) for k in ("corpus", "presentation", "source",
                                                      "units", "votes", "alpha",
                                                      "mean_entropy")} for a in items]))


def modality_confusion_section(utts: pl.DataFrame, out: Path) -> str:
    """Per corpus and pair of presentation modalities, the plurality label under one against
    the other (ties left out), as a heatmap and its counts."""
    if "label_by_modality" not in utts.columns:
        return muted("no per-modality labels (a dataset from before labels v2)")
    entries = (utts.select(["corpus", "utt_id", "label_by_modality"])
               .explode("label_by_modality").drop_nulls("label_by_modality")
               .unnest("label_by_modality").drop_nulls("label")
               .select(["corpus", "utt_id", "modality", "label"]))
    if entries.is_empty():
        return muted("no categorical per-modality labels")
    html_parts = []
    for (corpus,), rows in entries.group_by(["corpus"], maintain_order=True):
        modalities = sorted(rows["modality"].unique().to_list())
        for a, b in combinations(modalities, 2):
            pairs = (rows.filter(pl.col("modality") == a).rename({"label": a})
                     .join(rows.filter(pl.col("modality") == b).rename({"label": b}),
                           on="utt_id").group_by([a, b]).len())
            if pairs.is_empty():
                continue
            same = pairs.filter(pl.col(a) == pl.col(b))["len"].sum() / pairs["len"].sum()
            grid = (pairs.pivot(on=b, index=a, values="len", sort_columns=True)
                    .sort(a).fill_null(0))
            fig, ax = plt.subplots(figsize=(5, 4))
            ax.imshow(grid.drop(a).to_numpy(), cmap="Blues")
            ax.set_xticks(range(grid.width - 1), grid.columns[1:], rotation=45, ha="right")
            ax.set_yticks(range(grid.height), grid[a].to_list())
            ax.set_xlabel(f"{b} (plurality)")
            ax.set_ylabel(f"{a} (plurality)")
            ax.set_title(f"{corpus}: {a} vs {b}, {same:.1%} the same")
            html_parts.append(png(fig, out, f"confusion-{corpus}-{a}-{b}") + table(grid))
    return "".join(html_parts) or muted("one presentation modality only")
