"""mer-etl: multimodal emotion-recognition corpora -> versioned, training-ready feature shards.

One import namespace over the repository's folders: this package is the engine (etl/), with
`mer_etl.extractors`, `mer_etl.schemas` and `mer_etl.jobs` (the corpus adapters) beneath it.
Readers start at `mer_etl.read` (scan, iter_samples) and `mer_etl.loaders`.
"""

from importlib import metadata as _metadata

# Only underscored names here: `mer_etl.version` is the versioning module, and a name bound in
# this file would shadow it for `from mer_etl import version`.
try:
    __version__ = _metadata.version("mer-etl")
except _metadata.PackageNotFoundError:  # imported from a source tree never installed
    __version__ = "0+unknown"
