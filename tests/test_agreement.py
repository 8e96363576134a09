"""Annotator agreement: entropy per utterance, Krippendorff's alpha per corpus and presentation,
from per-rater ratings and from vote counts alike."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from mer_etl.jobs import agreement
from mer_etl.schemas import MANIFEST_SCHEMA, RATINGS_SCHEMA

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the worked example of three
# observers coding 15 units (None: not coded). His published nominal alpha: 0.691.
K2011 = [[None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
         [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
         [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4]]


def ratings_of(matrix: list[list[int | None]], corpus: str = "c") -> pa.Table:
    rows = [{"utt_id": f"u{j}", "corpus": corpus, "rater": f"r{i}", "presentation": "audio",
             "primary": str(v), "source": "x"}
            for i, coder in enumerate(matrix) for j, v in enumerate(coder) if v is not None]
    return pa.Table.from_pylist(rows, schema=RATINGS_SCHEMA)


def test_alpha_from_ratings_matches_the_published_example():
    (entry,) = agreement.corpus_agreement(MANIFEST_SCHEMA.empty_table(), ratings_of(K2011))
    assert entry["alpha"] == pytest.approx(0.691, abs=5e-4)
    assert (entry["source"], entry["units"], entry["presentation"]) == ("ratings", 12, "audio")


def test_counts_and_ratings_give_one_alpha():
    """The same votes as per-unit counts (CREMA-D's form) and as per-rater labels."""
    values = sorted({v for coder in K2011 for v in coder if v is not None})
    counts = np.array([[sum(coder[j] == v for coder in K2011) for v in values]
                       for j in range(len(K2011[0]))])
    assert agreement.alpha_from_counts(counts) == pytest.approx(0.691, abs=5e-4)


def test_alpha_bounds_and_undefined_cases():
    assert agreement.alpha_from_counts(np.array([[3, 0], [0, 3], [2, 0]])) == 1.0
    assert agreement.alpha_from_counts(np.array([[1, 1], [1, 1]])) < 0  # systematic disagreement
    assert agreement.alpha_from_counts(np.array([[3, 0], [2, 0]])) is None  # one class only
    assert agreement.alpha_from_counts(np.array([[1, 0], [0, 1]])) is None  # nothing pairable


def test_entropy_is_normalised():
    assert agreement.entropy([{"label": "a", "p": 1.0}], 6) == 0.0
    uniform = [{"label": str(i), "p": 1 / 6} for i in range(6)]
    assert agreement.entropy(uniform, 6) == pytest.approx(1.0)
    half = [{"label": "a", "p": 0.5}, {"label": "b", "p": 0.5}]
    assert agreement.entropy(half, 6) == pytest.approx(math.log(2) / math.log(6))
    assert agreement.entropy(None, 6) is None
