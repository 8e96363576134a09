"""Data contracts: Arrow schemas of every table mer-etl writes, and the uniform label schema."""

from mer_etl.schemas.labels import LabelSchema, UnknownLabelError, load_label_schema
from mer_etl.schemas.tables import (
    ERROR_SCHEMA,
    MANIFEST_SCHEMA,
    RATINGS_SCHEMA,
    STATUS_SCHEMA,
    SchemaMismatchError,
    validate_table,
)

__all__ = [
    "ERROR_SCHEMA",
    "MANIFEST_SCHEMA",
    "RATINGS_SCHEMA",
    "STATUS_SCHEMA",
    "LabelSchema",
    "SchemaMismatchError",
    "UnknownLabelError",
    "load_label_schema",
    "validate_table",
]
