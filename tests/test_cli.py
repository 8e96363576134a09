"""The `mer-etl` command as a user runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import write_wav

MER_ETL = str(Path(sys.executable).with_name("mer-etl"))


def mer_etl(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "COLUMNS": "200"}
    proc = subprocess.run([MER_ETL, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode:
        raise AssertionError(f"mer-etl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_corpora_lists_ravdess():
    proc = mer_etl("corpora", check=True)
    assert "ravdess" in proc.stdout and "Actor_NN" in proc.stdout
    # modality and licence are data: the label schema's section or the definition file
    assert re.search(r"ravdess\s+│ RAVDESS\s+│ audio-visual\s+│ CC BY-NC-SA 4\.0", proc.stdout)
    assert re.search(r"subesco\s+│ SUBESCO\s+│ audio\s+│ CC BY 4\.0", proc.stdout)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nosuchcorpus", "--root", ".", "--out", "x"], "unknown corpus 'nosuchcorpus'"),
    (["run", "ravdess", "--root", "/nonexistent/RAVDESS", "--out", "x"], "does not exist"),
    (["manifest", "ravdess", "--root", "EMPTY", "--out", "x"], "no usable media"),
    (["inspect", "/nonexistent/dataset"], "no such dataset"),
])
def test_bad_invocations_exit_nonzero_with_one_line(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [str(empty) if a == "EMPTY" else a for a in args]
    args = [str(tmp_path / a) if a == "x" else a for a in args]
    proc = mer_etl(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_manifest_writes_parquet_and_reports_foreign_files(tmp_path):
    root = tmp_path / "RAVDESS"
    write_wav(root / "Actor_02" / "03-01-03-02-01-02-02.wav", 0.2)
    (root / "Actor_02" / "03-01-03-02-01-02-02.txt").write_text("?")
    proc = mer_etl("manifest", "ravdess", "--root", str(root), "--out", str(tmp_path / "m"),
                   check=True)
    assert "1 utterances" in proc.stdout and "(1 problem(s))" in proc.stdout
    assert "ravdess speech total: 1 of 1,440" in proc.stdout  # reconciled, with a warning
    assert "03-01-03-02-01-02-02.txt" in proc.stderr
    import polars as pl

    df = pl.read_parquet(tmp_path / "m" / "utterances.parquet")
    assert df["label"].to_list() == ["happy"] and df["intensity_native"].to_list() == ["strong"]


def test_run_inspect_verify(tmp_path):
    root = tmp_path / "RAVDESS"
    for emo in ("01", "05"):
        write_wav(root / "Actor_03" / f"03-01-{emo}-01-01-01-03.wav", 0.5)
    out = tmp_path / "out"
    run = mer_etl("run", "ravdess", "--root", str(root), "--out", str(out), "--num-cpus", "1",
                  check=True)
    assert "2 utterances in 1 shard(s), 0 error(s)" in run.stdout
    dataset = out / "ravdess"
    card = json.loads(mer_etl("inspect", str(dataset), "--json", check=True).stdout)
    assert card["counts"]["utterances"] == 2 and card["name"] == "ravdess"
    assert "label schema 1.1.0" in mer_etl("inspect", str(dataset), check=True).stdout
    assert mer_etl("verify", str(dataset), check=True).returncode == 0
    again = mer_etl("run", "ravdess", "--root", str(root), "--out", str(out), check=True)
    assert "up to date" in again.stdout
    # A flipped byte makes verify fail, naming the file.
    version = dataset / card["version"]
    tar = version / "shards" / "shard-000000.tar"
    data = bytearray(tar.read_bytes())
    data[700] ^= 0x01
    tar.write_bytes(bytes(data))
    bad = mer_etl("verify", str(version))
    assert bad.returncode == 1 and "changed: shards/shard-000000.tar" in bad.stderr
    shutil.rmtree(out)


def test_multi_corpus_run_and_inspect(tmp_path):
    from tests import corpora

    savee = corpora.make_savee(tmp_path / "SAVEE")
    emodb = corpora.make_emodb(tmp_path / "EmoDB")
    out = tmp_path / "out"
    run = mer_etl("run", "savee,emodb", "--root", f"emodb={emodb}", "--root", f"savee={savee}",
                  "--out", str(out), "--num-cpus", "2", check=True)
    assert "14 utterances" in run.stdout and "savee+emodb" in run.stdout
    shown = mer_etl("inspect", str(out / "savee+emodb"), check=True).stdout
    assert re.search(r"emodb\s+│ bored\s+│", shown) and re.search(r"savee\s+│ angry\s+│", shown)
    card = json.loads(mer_etl("inspect", str(out / "savee+emodb"), "--json", check=True).stdout)
    assert card["counts"]["by_corpus_label"]["emodb"]["bored"] == 1
    assert card["counts"]["problems_by_type"] == {"UnexpectedFile": 2}


def test_set_gives_extractor_options():
    from mer_etl.cli import extractor_options

    assert extractor_options(["asr.model=/models/small", "egemaps.lld=false", "faces.fps=2",
                              "faces.sides={F: right, M: left}"]) == {
        "asr": {"model": "/models/small"}, "egemaps": {"lld": False},
        "faces": {"fps": 2, "sides": {"F": "right", "M": "left"}}}
    with pytest.raises(ValueError, match=r"expected EXTRACTOR\.KEY=VALUE"):
        extractor_options(["asr=tiny"])
