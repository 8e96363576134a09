from __future__ import annotations

import copy
import tomllib
from importlib import resources

import pytest

from mer_etl.schemas.labels import UnknownLabelError, _check, load_label_schema, rescale

REQUIRED_CLASSES = {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted",
                    "surprised", "contempt", "frustrated", "excited", "bored", "other"}
SUPPORTED = {"ravdess", "cremad", "iemocap", "meld", "msp_podcast", "mosei", "esd", "emodb",
             "tess", "savee"}


@pytest.fixture(scope="module")
def schema():
    return load_label_schema()


def test_taxonomy_has_the_required_classes(schema):
    assert set(schema.classes) >= REQUIRED_CLASSES
    assert schema.version == "1.1.0"


def test_every_supported_corpus_has_a_label_map(schema):
    assert set(schema.corpora) >= SUPPORTED
    for corpus in SUPPORTED:
        assert schema.corpora[corpus]["labels"], corpus


@pytest.mark.parametrize(("corpus", "code", "canonical", "status"), [
    ("ravdess", "02", "calm", "labeled"),
    ("ravdess", "07", "disgusted", "labeled"),
    ("iemocap", "exc", "excited", "labeled"),
    ("iemocap", "fru", "frustrated", "labeled"),
    ("iemocap", "xxx", None, "no_agreement"),
    ("iemocap", "oth", "other", "labeled"),
    ("msp_podcast", "X", None, "no_agreement"),
    ("msp_podcast", "O", "other", "labeled"),
    ("msp_podcast", "C", "contempt", "labeled"),
    ("meld", "joy", "happy", "labeled"),
    ("emodb", "L", "bored", "labeled"),
    ("esd", "惊喜", "surprised", "labeled"),
    ("tess", "pleasant_surprised", "surprised", "labeled"),
    ("savee", "sa", "sad", "labeled"),
    ("savee", "su", "surprised", "labeled"),
    ("cremad", "DIS", "disgusted", "labeled"),
])
def test_native_codes_map_to_canonical(schema, corpus, code, canonical, status):
    mapped = schema.map_label(corpus, code)
    assert (mapped.canonical, mapped.status, mapped.native) == (canonical, status, code)


def test_unknown_code_names_the_valid_codes(schema):
    with pytest.raises(UnknownLabelError, match=r"ravdess: unknown label code '09'.*01, 02"):
        schema.map_label("ravdess", "09")


def test_views_are_functions_of_the_canonical_label(schema):
    assert schema.view("iemocap4", "excited") == "happy"
    assert schema.view("iemocap4", "happy") == "happy"
    assert schema.view("iemocap4", "frustrated") is None
    assert schema.view("iemocap4", None) is None
    assert schema.view("ekman7", "neutral") == "neutral"
    assert schema.view("ekman7", "calm") is None
    with pytest.raises(KeyError, match="unknown label view"):
        schema.view("nope", "happy")


@pytest.mark.parametrize(("value", "lo", "hi", "expected"), [
    (1.0, 1.0, 5.0, -1.0), (5.0, 1.0, 5.0, 1.0), (3.0, 1.0, 5.0, 0.0),
    (4.0, 1.0, 7.0, 0.0), (-3.0, -3.0, 3.0, -1.0), (None, 1.0, 5.0, None),
])
def test_rescale_is_linear_onto_minus_one_one(value, lo, hi, expected):
    assert rescale(value, lo, hi) == expected


def test_dimension_ranges(schema):
    assert schema.dimension_range("iemocap", "valence") == (1.0, 5.0)
    assert schema.dimension_range("msp_podcast", "arousal") == (1.0, 7.0)


def _raw():
    data = resources.files("mer_etl.schemas").joinpath("labels", "v1.toml").read_bytes()
    return tomllib.loads(data.decode())


def test_schema_check_rejects_unknown_canonical_class():
    raw = copy.deepcopy(_raw())
    raw["corpora"]["ravdess"]["labels"]["01"]["canonical"] = "joyful"
    with pytest.raises(ValueError, match="'joyful' is not a canonical class"):
        _check(raw, "v1.toml")


def test_schema_check_rejects_labeled_entry_without_class():
    raw = copy.deepcopy(_raw())
    del raw["corpora"]["ravdess"]["labels"]["01"]["canonical"]
    with pytest.raises(ValueError, match="needs a canonical class"):
        _check(raw, "v1.toml")


def test_schema_check_rejects_view_of_unknown_class():
    raw = copy.deepcopy(_raw())
    raw["views"]["iemocap4"]["happy"].append("elated")
    with pytest.raises(ValueError, match="unknown classes"):
        _check(raw, "v1.toml")


def test_a_dataset_hashes_only_its_own_corpora_label_sections():
    """Adding or fixing one corpus's map re-versions only the datasets that contain it."""
    from importlib import resources

    from mer_etl.schemas.labels import parse_label_schema

    text = resources.files("mer_etl.schemas").joinpath("labels", "v1.toml").read_text()
    base = parse_label_schema(text.encode(), "v1.toml")
    added = parse_label_schema((text + '\n[corpora.new_one]\ntitle = "New"\n'
                                '[corpora.new_one.labels]\nx = { native = "x", canonical = '
                                '"happy" }\n').encode(), "v1+new.toml")
    fixed = parse_label_schema(text.replace('"07" = { native = "disgust", canonical = '
                                            '"disgusted" }', '"07" = { native = "disgust", '
                                            'canonical = "angry" }').encode(), "v1-fix.toml")
    viewed = parse_label_schema(text.replace("[views.ekman6]", "[views.ekman6b]").encode(),
                                "v1-views.toml")
    assert added.sha256 != base.sha256  # the file changed ...
    assert added.digest(["ravdess", "cremad"]) == base.digest(["ravdess", "cremad"])  # not these
    assert fixed.digest(["cremad"]) == base.digest(["cremad"])
    assert fixed.digest(["ravdess"]) != base.digest(["ravdess"])
    assert viewed.digest(["cremad"])["sha256"] != base.digest(["cremad"])["sha256"]
