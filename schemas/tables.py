"""Arrow schemas of the tables mer-etl writes. Every writer validates against these."""

from __future__ import annotations

import pyarrow as pa

SOFT_LABEL_TYPE = pa.list_(pa.struct([("label", pa.string()), ("p", pa.float32())]))
# A label per presentation modality, where the corpus annotates each one on its own (CREMA-D's
# voice-only / face-only / audio-visual votes, CH-SIMS's label_T/A/V): modality is "text" |
# "audio" | "visual" | "audiovisual"; the plurality label (canonical, with its native code; null
# on a tie), the vote distribution, how many votes and their normalised entropy, and/or a
# sentiment in [-1, 1]. Never folded into `label`.
BY_MODALITY_TYPE = pa.list_(pa.struct([
    ("modality", pa.string()), ("label", pa.string()), ("label_native", pa.string()),
    ("soft_label", SOFT_LABEL_TYPE), ("n_votes", pa.int32()), ("entropy", pa.float32()),
    ("sentiment", pa.float32())]))

# One row per utterance: where its media is, who speaks, and its labels in the uniform schema.
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("utt_id", pa.string(), nullable=False),  # "<corpus>_<native id>", stable
        pa.field("corpus", pa.string(), nullable=False),
        pa.field("speaker", pa.string()),  # corpus-prefixed, so ids never collide
        pa.field("gender", pa.string()),  # "female" | "male" | null
        pa.field("language", pa.string()),  # ISO 639-1
        pa.field("split", pa.string()),  # "train" | "validation" | "test" | corpus-defined
        pa.field("fold", pa.int16()),  # cross-validation fold where the corpus has them
        pa.field("audio_uri", pa.string()),  # fsspec URI of the media that carries the audio
        pa.field("audio_sha256", pa.string()),
        pa.field("video_uri", pa.string()),
        pa.field("video_sha256", pa.string()),
        pa.field("start", pa.float64()),  # seconds within the audio media; null = from its start
        pa.field("end", pa.float64()),  # seconds within the audio media; null = to its end
        pa.field("video_start", pa.float64()),  # the same within the video media
        pa.field("video_end", pa.float64()),
        # the part of the video frame the speaker occupies: "left" | "right" | null (all of it,
        # the speaker's face is the largest); IEMOCAP's dialog videos show two actors
        pa.field("video_region", pa.string()),
        pa.field("transcript", pa.string()),  # as shipped by the corpus
        pa.field("label_native", pa.string()),  # the corpus's own code
        pa.field("label_native_name", pa.string()),
        pa.field("label", pa.string()),  # canonical class, null when there is none
        pa.field("label_status", pa.string(), nullable=False),  # labeled|no_agreement|unlabeled
        pa.field("intensity_native", pa.string()),
        pa.field("valence", pa.float32()),  # [-1, 1]
        pa.field("arousal", pa.float32()),
        pa.field("dominance", pa.float32()),
        pa.field("valence_native", pa.float32()),
        pa.field("arousal_native", pa.float32()),
        pa.field("dominance_native", pa.float32()),
        pa.field("vad_native_min", pa.float32()),
        pa.field("vad_native_max", pa.float32()),
        pa.field("sentiment", pa.float32()),  # [-1, 1], its own field, never valence
        pa.field("sentiment_native", pa.string()),
        pa.field("soft_label", SOFT_LABEL_TYPE),  # distribution over canonical classes
        # normalised entropy of soft_label over the classes the raters chose from: 0 every
        # vote for one class, 1 votes spread evenly (jobs/agreement.py)
        pa.field("label_entropy", pa.float32()),
        pa.field("label_by_modality", BY_MODALITY_TYPE),
        # from the raters (the ratings table): every class any rater mentioned, primary or
        # secondary, as a distribution (one count a mention) and as an all-inclusive set
        pa.field("soft_label_all", SOFT_LABEL_TYPE),
        pa.field("label_set", pa.list_(pa.string())),
        # a compound expression: two basic canonical classes (e.g. fearful + surprised)
        pa.field("label_compound", pa.list_(pa.string())),
        # open vocabulary: the words as annotated, and their canonical classes through the
        # label schema's synonym table (words it does not list are left out of the latter)
        pa.field("open_vocab", pa.list_(pa.string())),
        pa.field("open_vocab_canonical", pa.list_(pa.string())),
        # free-text descriptions of the expression: text, its language, who wrote it (human,
        # the corpus, or a model id)
        pa.field("descriptions", pa.list_(pa.struct([
            ("text", pa.string()), ("language", pa.string()), ("source", pa.string())]))),
        # speech captions (EmotionTalk's four kinds)
        pa.field("caption", pa.struct([("speaker", pa.string()), ("style", pa.string()),
                                       ("emotion", pa.string()), ("overall", pa.string())])),
        pa.field("meta", pa.string()),  # JSON object of corpus-specific fields
    ]
)

# One row per rating an annotator gave an utterance, where the corpus publishes them
# (MSP-Podcast's labels_detailed.csv). Values are native: classes as the corpus names them,
# dimensions on the corpus's own scale (`vad_native_min/max` of the utterance).
RATINGS_SCHEMA = pa.schema(
    [
        pa.field("utt_id", pa.string(), nullable=False),
        pa.field("corpus", pa.string(), nullable=False),
        pa.field("rater", pa.string(), nullable=False),  # as the corpus names the annotator
        pa.field("presentation", pa.string()),  # what the rater perceived: audio | video | ...
        pa.field("primary", pa.string()),  # the rater's main class, native name
        pa.field("secondary", pa.list_(pa.string())),  # further classes the rater chose
        pa.field("valence", pa.float32()),
        pa.field("arousal", pa.float32()),
        pa.field("dominance", pa.float32()),
        pa.field("source", pa.string()),  # file:line it came from
    ]
)

# What failed, where, and why. utt_id is null for problems found before an utterance exists
# (a foreign file in the corpus tree, an unreadable directory).
ERROR_SCHEMA = pa.schema(
    [
        pa.field("corpus", pa.string()),
        pa.field("utt_id", pa.string()),
        pa.field("path", pa.string()),
        pa.field("stage", pa.string(), nullable=False),  # manifest | decode | <extractor name>
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
    ]
)


class SchemaMismatchError(ValueError):
    """A table about to be written does not match its declared schema."""


def validate_table(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """Return `table` cast to `schema`, or raise naming the offending columns.

    Extra or missing columns are errors; so are nulls in non-nullable fields.
    """
    names, expected = set(table.column_names), set(schema.names)
    if names != expected:
        raise SchemaMismatchError(
            f"{what}: columns differ from the schema; "
            f"missing {sorted(expected - names)}, unexpected {sorted(names - expected)}"
        )
    table = table.select(schema.names)
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise SchemaMismatchError(f"{what}: cannot cast to the schema: {exc}") from exc
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise SchemaMismatchError(f"{what}: column {field.name!r} must not contain nulls")
    return table

# One row per utterance and extractor: did it produce features, and if not, why.
# A reader can always tell "nothing found" (ok, with empty features) from "skipped" from
# "failed"; an extractor with no status table was not run.
STATUS_SCHEMA = pa.schema(
    [
        pa.field("utt_id", pa.string(), nullable=False),
        pa.field("extractor", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # ok | skipped | failed
        pa.field("stage", pa.string()),  # where it stopped: decode | extract (null when ok)
        pa.field("reason", pa.string()),  # why skipped, or the error type when failed
        pa.field("message", pa.string()),
        pa.field("duration_s", pa.float64()),  # decoded audio seconds
        pa.field("sample_rate", pa.int32()),  # the media's own rate (null: never decoded at it)
    ]
)
