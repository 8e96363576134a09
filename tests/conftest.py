from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local test cluster needs no tokens


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session; the pipeline reuses a running Ray."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    from etl.demo import generate

    root = tmp_path_factory.mktemp("demo") / "RAVDESS"
    generate(root)
    return root


@pytest.fixture(scope="session")
def demo_run(demo_corpus, tmp_path_factory, ray_local):
    from etl.pipeline import RunConfig, run

    out = tmp_path_factory.mktemp("out")
    cfg = RunConfig(corpora=["ravdess"], roots=[str(demo_corpus)], out=str(out), name="demo",
                    shard_size=8)
    return cfg, run(cfg)
