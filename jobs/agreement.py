"""How much the annotators agree: per utterance the normalised entropy of its vote
distribution, per corpus and presentation modality Krippendorff's alpha (nominal).

Alpha comes from what the corpus publishes: per-rater primary labels (the ratings table:
IEMOCAP's evaluators, MSP-Podcast's workers) or per-unit vote counts (CREMA-D's tabulated
votes per presentation, kept in `label_by_modality`). Both reach the `krippendorff` package's
implementation: ratings as reliability data (raters x units), counts as value counts (units x
classes); a unit with a single vote carries no pairable value and is left out, as alpha
defines.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl.schemas.labels import LabelSchema


def soft_label(weights: dict[str, float], labels: LabelSchema) -> list[dict[str, Any]] | None:
    """A distribution over canonical classes (taxonomy order) from vote counts or intensities."""
    total = sum(weights.values())
    if total <= 0:
        return None
    return [{"label": c, "p": weights[c] / total} for c in labels.classes if weights.get(c)]


def from_ratings(rows: list[Any], ratings: list[dict[str, Any]], labels: LabelSchema) -> None:
    """Fill each rated row's `soft_label_all` (every mention, primary or secondary, one count
    each), `label_set` (every class mentioned: the all-inclusive multi-hot) and `open_vocab`
    (the words as the raters wrote them). A word maps through the corpus's vote table, else
    the label schema's synonym table; a word neither knows stays only in `open_vocab`."""
    by_utt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in ratings:
        by_utt[r["utt_id"]].append(r)
    for row in rows:
        mine = by_utt.get(row.utt_id)
        if not mine:
            continue
        votes = labels.corpora.get(row.corpus, {}).get("votes", {})
        words = [w for r in mine for w in [r.get("primary"), *(r.get("secondary") or [])] if w]
        counts: dict[str, float] = defaultdict(float)
        for word in words:
            entry = votes.get(word)
            canonical = entry.get("canonical") if entry else labels.normalise(word)
            if canonical:
                counts[canonical] += 1
        row.soft_label_all = soft_label(counts, labels)
        row.label_set = [c for c in labels.classes if counts.get(c)] or None
        row.open_vocab = list(dict.fromkeys(words)) or None
        row.open_vocab_canonical = labels.normalise_all(words) or None


def entropy(soft: list[dict[str, Any]] | None, n_classes: int) -> float | None:
    """Shannon entropy of a soft label over `n_classes` classes, normalised to [0, 1] (0: every
    vote for one class, 1: votes spread evenly); None without a distribution."""
    if not soft or n_classes < 2:
        return None
    h = -sum(d["p"] * math.log(d["p"]) for d in soft if 0 < d["p"] < 1)
    return max(h, 0.0) / math.log(n_classes)


def alpha_from_counts(counts: np.ndarray) -> float | None:
    """Nominal alpha from a units x classes matrix of vote counts."""
    import krippendorff

    usable = counts[counts.sum(axis=1) >= 2]
    if len(usable) < 2 or (usable > 0).sum(axis=0).astype(bool).sum() < 2:
        return None  # one unit, or one class only: agreement is undefined
    return float(krippendorff.alpha(value_counts=usable, level_of_measurement="nominal"))


def corpus_agreement(manifest: pa.Table, ratings: pa.Table | None) -> list[dict[str, Any]]:
    """One entry per corpus and presentation: units, votes, alpha, mean utterance entropy."""
    out: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    entropies: dict[tuple[str, str], list[float]] = defaultdict(list)
    if "label_by_modality" not in manifest.schema.names:  # a dataset from before labels v2
        cols = []
    else:
        cols = manifest.select(["corpus", "label_by_modality"]).to_pylist()
    classes = sorted({d["label"] for row in cols for e in row["label_by_modality"] or []
                      for d in e.get("soft_label") or []})
    index = {c: i for i, c in enumerate(classes)}
    for row in cols:
        for entry in row["label_by_modality"] or []:
            n, soft = entry.get("n_votes"), entry.get("soft_label")
            if not n or not soft:
                continue
            vec = np.zeros(len(classes))
            for d in soft:
                vec[index[d["label"]]] = round(d["p"] * n)
            by_key[row["corpus"], entry["modality"]].append(vec)
            if entry.get("entropy") is not None:
                entropies[row["corpus"], entry["modality"]].append(entry["entropy"])
    for (corpus, modality), vecs in sorted(by_key.items()):
        counts = np.stack(vecs)
        ent = entropies[corpus, modality]
        out.append({"corpus": corpus, "presentation": modality, "source": "vote counts",
                    "units": len(vecs), "votes": int(counts.sum()),
                    "alpha": _round(alpha_from_counts(counts)),
                    "mean_entropy": _round(float(np.mean(ent)) if ent else None)})
    if ratings is not None and ratings.num_rows:
        out += _from_ratings(ratings)
    return out


def _from_ratings(ratings: pa.Table) -> list[dict[str, Any]]:
    """Alpha over the raters' primary labels, per corpus and presentation."""
    import krippendorff

    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in ratings.select(["corpus", "presentation", "utt_id", "rater", "primary"]).to_pylist():
        if r["primary"]:
            groups[r["corpus"], r["presentation"] or "unspecified"].append(r)
    for (corpus, presentation), items in sorted(groups.items()):
        units = sorted({r["utt_id"] for r in items})
        raters = sorted({r["rater"] for r in items})
        values = sorted({r["primary"] for r in items})
        u, k, v = ({x: i for i, x in enumerate(xs)} for xs in (units, raters, values))
        data = np.full((len(raters), len(units)), np.nan)
        for r in items:
            data[k[r["rater"]], u[r["utt_id"]]] = v[r["primary"]]
        pairable = (~np.isnan(data)).sum(axis=0) >= 2
        alpha = None
        if pairable.sum() >= 2 and len(values) >= 2:
            alpha = float(krippendorff.alpha(reliability_data=data[:, pairable],
                                             level_of_measurement="nominal"))
        out.append({"corpus": corpus, "presentation": presentation, "source": "ratings",
                    "units": int(pairable.sum()), "votes": len(items), "alpha": _round(alpha),
                    "mean_entropy": None})
    return out


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)
