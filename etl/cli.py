"""The `mer-etl` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mer_etl import jobs
from mer_etl.jobs import custom
from mer_etl.media.audio import DecodeError
from mer_etl.pipeline import RunConfig
from mer_etl.quiet import loud
from mer_etl.schemas import SchemaMismatchError, UnknownLabelError
from mer_etl.store import resolve_dataset, verify
from mer_etl.summary import print_summary

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Turn emotion-recognition corpora into versioned feature shards.")
console = Console()
err = Console(stderr=True)


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="also show progress notes (shards written, reuse, resume) and "
                                "Ray's own output")] = False,
) -> None:
    if verbose:
        os.environ["MER_ETL_VERBOSE"] = "1"  # read by etl.quiet, inherited by Ray workers
        logging.getLogger("mer_etl").setLevel(logging.INFO)
MAX_PROBLEM_LINES = 20  # the rest are in manifest_problems.parquet


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _pair_roots(corpora_: list[str], roots: list[str]) -> tuple[list[str], list[str]]:
    """Match --root values to corpora: CORPUS=ROOT pairs, or plain roots in corpus order."""
    named = dict(r.split("=", 1) for r in roots if "=" in r.split("://", 1)[0])
    plain = [r for r in roots if "=" not in r.split("://", 1)[0]]
    if named and plain:
        raise ValueError("--root: use either CORPUS=ROOT for every corpus or plain roots in order")
    if named:
        missing = [c for c in corpora_ if c not in named]
        extra = sorted(set(named) - set(corpora_))
        if missing or extra:
            raise ValueError(f"--root: no root for {missing}; roots for corpora not asked for: "
                             f"{extra}")
        return corpora_, [named[c] for c in corpora_]
    if len(plain) != len(corpora_):
        raise ValueError(f"--root: {len(corpora_)} corpora need {len(corpora_)} roots, "
                         f"got {len(plain)}")
    return corpora_, plain


@app.command()
def run(
    corpus: Annotated[str, typer.Argument(
        help="corpus adapter name, several separated by commas, or `custom` with --job or "
             "--manifest (see `mer-etl corpora`)")],
    out: Annotated[str, typer.Option(help="output root; the dataset lands in OUT/NAME/VERSION")],
    root: Annotated[list[str] | None, typer.Option(
        help="corpus root in its native layout (fsspec URI); for several corpora repeat it, "
             "in order or as CORPUS=ROOT")] = None,
    name: Annotated[str | None, typer.Option(help="dataset name (default: the corpus)")] = None,
    extractors: Annotated[str, typer.Option(help="comma-separated extractors")] = "egemaps",
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
    num_cpus: Annotated[int | None, typer.Option(help="CPUs for local Ray")] = None,
    ray_address: Annotated[str | None, typer.Option(
        envvar="RAY_ADDRESS", help="existing Ray cluster (auto, ray://host:10001)")] = None,
    shard_size: Annotated[int, typer.Option(help="utterances per shard")] = 256,
    batch_size: Annotated[int, typer.Option(
        help="utterances per Ray Data batch (per actor call)")] = 4,
    max_seconds: Annotated[float, typer.Option(
        help="longest utterance decoded (s); longer ones fail as TooLongError, since memory "
             "grows with length")] = 1200.0,
    job: Annotated[str | None, typer.Option(help="custom: YAML job file (jobs/examples/)")] = None,
    manifest: Annotated[str | None, typer.Option(
        help="custom: a CSV, JSONL or Parquet table of utterances")] = None,
    corpus_name: Annotated[str | None, typer.Option(help="custom: id prefix for utt_id")] = None,
    media_col: Annotated[str | None, typer.Option(help="custom: media path column")] = None,
    id_col: Annotated[str | None, typer.Option(help="custom: utterance id column")] = None,
    speaker_col: Annotated[str | None, typer.Option(help="custom: speaker column")] = None,
    split_col: Annotated[str | None, typer.Option(help="custom: split column")] = None,
    label_col: Annotated[str | None, typer.Option(help="custom: native label column")] = None,
    start_col: Annotated[str | None, typer.Option(help="custom: span start column (s)")] = None,
    end_col: Annotated[str | None, typer.Option(help="custom: span end column (s)")] = None,
    text_col: Annotated[str | None, typer.Option(help="custom: transcript column")] = None,
    label_map: Annotated[str | None, typer.Option(
        help="custom: YAML/JSON mapping native label -> canonical class (null: no agreement)")
    ] = None,
    vad_cols: Annotated[str | None, typer.Option(
        help="custom: valence,arousal,dominance columns")] = None,
    vad_range: Annotated[str | None, typer.Option(help="custom: native min,max of V/A/D")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="extractor option EXTRACTOR.KEY=VALUE (YAML value), e.g. "
                      "asr.model=/models/whisper-small or wav2vec.dtype=float16; repeatable")
    ] = None,
) -> None:
    """Process corpora end to end: manifest, extractors on Ray, Parquet + WebDataset shards."""
    adapters = {}
    if corpus == "custom":
        columns = {"media": media_col, "utt_id": id_col, "speaker": speaker_col,
                   "split": split_col, "label": label_col, "start": start_col, "end": end_col,
                   "transcript": text_col}
        if vad_cols:
            columns.update(zip(("valence", "arousal", "dominance"), _split(vad_cols),
                               strict=False))
        spec = custom.load_job(
            job, corpus=corpus_name, manifest=manifest,
            columns={k: v for k, v in columns.items() if v},
            labels=custom.load_label_map(label_map) if label_map else None,
            vad_range=[float(v) for v in _split(vad_range)] if vad_range else None)
        adapters[spec.corpus] = custom.make_adapter(spec)
        corpora_, roots = [spec.corpus], root or [custom.default_root(spec)]
    else:
        if not root:
            raise ValueError("--root: give the corpus root (CORPUS=ROOT for several corpora)")
        corpora_, roots = _pair_roots(_split(corpus), root)
    _run_and_report(RunConfig(corpora=corpora_, roots=roots, out=out, name=name,
                              extractors=_split(extractors), device=device, num_cpus=num_cpus,
                              ray_address=ray_address, shard_size=shard_size, adapters=adapters,
                              batch_size=batch_size, max_seconds=max_seconds,
                              extractor_config=extractor_options(set_ or [])))


def extractor_options(items: list[str]) -> dict[str, dict[str, object]]:
    """`--set asr.model=/x --set egemaps.lld=false` -> {"asr": {"model": "/x"}, ...}."""
    import yaml

    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, option = key.partition(".")
        if not (sep and dot and name and option):
            raise ValueError(f"--set {item!r}: expected EXTRACTOR.KEY=VALUE")
        out.setdefault(name.strip(), {})[option.strip()] = yaml.safe_load(value)
    return out


def _run_and_report(cfg: RunConfig) -> None:
    from mer_etl.pipeline import run as run_pipeline

    result = run_pipeline(cfg)
    store = resolve_dataset(result.path)
    if result.up_to_date:
        console.print(f"[green]up to date[/]: version {result.version} already at {result.path}; "
                      "nothing written")
    else:
        reused = result.card["run"].get("reused", {})
        console.print(f"computed: {', '.join(result.card['run']['computed']) or 'no extractor'}"
                      + (f"; reused from earlier versions: {reused}" if reused else ""))
    print_summary(store, result.card, console)
    console.print(f"dataset: {result.path}  ({result.seconds:.1f} s)")


@app.command()
def corpora() -> None:
    """List the corpus adapters and the native layout each expects."""
    table = Table("corpus", "title", "modality", "license", "expected layout")
    for adapter in sorted(jobs.ADAPTERS.values(), key=lambda a: a.name):
        table.add_row(adapter.name, adapter.title, adapter.modality, adapter.license,
                      escape(adapter.layout))
    console.print(table)


@app.command()
def manifest(
    corpus: Annotated[str, typer.Argument(help="corpus adapter name")],
    root: Annotated[str, typer.Option(help="corpus root in its native layout")],
    out: Annotated[str, typer.Option(help="directory for utterances.parquet")],
) -> None:
    """Write only the uniform manifest (utterances.parquet) and report unusable files."""
    from collections import Counter

    from mer_etl.layout import LAYOUT
    from mer_etl.store import Store
    from mer_etl.summary import print_reconciliation

    m = jobs.build_manifest(corpus, root)
    store = Store(out)
    store.write_table(LAYOUT.utterances, m.table)
    if m.ratings.num_rows:
        store.write_table(LAYOUT.ratings, m.ratings)
    if m.problems.num_rows:
        store.write_table(LAYOUT.manifest_problems, m.problems)
        problems = m.problems.to_pylist()
        for p in problems[:MAX_PROBLEM_LINES]:
            err.print(f"[yellow]{p['error_type']}[/] {escape(p['path'])}: {escape(p['message'])}",
                      highlight=False)
        if len(problems) > MAX_PROBLEM_LINES:
            err.print(f"... and {len(problems) - MAX_PROBLEM_LINES} more in "
                      f"{store.uri}/{LAYOUT.manifest_problems}")
        by_type = Counter(p["error_type"] for p in problems)
        err.print("problems by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())))
    print_reconciliation({"counts": {"reconciliation": m.reconciliation}}, console)
    console.print(f"{m.table.num_rows} utterances -> {store.uri}/{LAYOUT.utterances}"
                  f" ({m.problems.num_rows} problem(s))")


@app.command()
def inspect(
    path: Annotated[str, typer.Argument(help="a dataset version directory or dataset directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print the card as JSON")] = False,
) -> None:
    """Print a dataset's card."""
    store = resolve_dataset(path)
    card = store.read_card()
    if as_json:
        sys.stdout.write(json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return
    print_summary(store, card, console)
    for name, ex in card["extractors"].items():
        console.print(f"extractor {name} v{ex['version']}: config {ex['config']}, "
                      f"models {ex['models']}")
    console.print(f"created {card['created']} by mer-etl {card['code']}")


@app.command(name="verify")
def verify_cmd(
    path: Annotated[str, typer.Argument(help="a dataset version directory or dataset directory")],
) -> None:
    """Re-hash every file against the card; exit 1 on any mismatch."""
    store = resolve_dataset(path)
    problems = verify(store)
    for line in problems:
        err.print(f"[red]{escape(line)}", highlight=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(store.read_card()['files'])} files match {store.uri}")


@app.command()
def report(
    path: Annotated[str, typer.Argument(help="a dataset version directory or dataset directory")],
    out: Annotated[Path | None, typer.Option(help="folder for report.html and the PNG plots "
                                             "(default: report-<name>-<version>)")] = None,
) -> None:
    """Write a self-contained HTML report (and PNG plots) of a dataset."""
    from mer_etl.report import build_report

    store = resolve_dataset(path)
    card = store.read_card()
    target = build_report(store.uri, out or Path(f"report-{card['name']}-{card['version']}"))
    console.print(f"report: {target}")


@app.command()
def export(
    path: Annotated[str, typer.Argument(help="a dataset version directory or dataset directory")],
    format: Annotated[str, typer.Option("--format", help="sharegpt (LLaMA-Factory), qwen-vl, "
                                        "llava, merr (Emotion-LLaMA), affectgpt-csv or hf "
                                        "(HF datasets)")],
    out: Annotated[Path, typer.Option(help="folder for the export")],
    label_view: Annotated[str, typer.Option(help="canonical, iemocap4, ekman7, ...")] =
        "canonical",
    split: Annotated[str | None, typer.Option(help="only this split")] = None,
    cues: Annotated[bool, typer.Option(help="add the cues view's text to the prompt")] = True,
    target: Annotated[str, typer.Option(help="label, open_vocab or description")] = "label",
) -> None:
    """Write instruction-tuning files for multimodal LLMs from a dataset."""
    from mer_etl.export import export as run_export

    files = run_export(path, format, out, label_view=label_view, split=split, cues=cues,
                       target=target)
    console.print(f"export ({format}): {', '.join(str(f) for f in files)}")


@app.command(name="retry-errors")
def retry_errors_cmd(
    path: Annotated[str, typer.Argument(help="a dataset version directory or dataset directory")],
    num_cpus: Annotated[int | None, typer.Option(help="CPUs for local Ray")] = None,
    ray_address: Annotated[str | None, typer.Option(envvar="RAY_ADDRESS")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
) -> None:
    """Reprocess only the utterances that failed (same version, rewritten card)."""
    from mer_etl.retry import retry_errors

    result = retry_errors(path, num_cpus=num_cpus, ray_address=ray_address, device=device)
    if result.up_to_date:
        console.print(f"nothing to retry: {result.path} has no failed utterances")
        return
    console.print(f"retried {result.card['run']['retried']} (extractor: shards)")
    print_summary(resolve_dataset(result.path), result.card, console)


# Everything that runs offline with the models registry packages ship.
DEMO_EXTRACTORS = "egemaps,asr,faces,audio_stats"


@app.command()
def demo(
    corpus_dir: Annotated[Path, typer.Option(help="where the demo corpus is generated")] = Path(
        "demo/RAVDESS"),
    out: Annotated[str, typer.Option(help="output root")] = "demo/out",
    num_cpus: Annotated[int | None, typer.Option(help="CPUs for local Ray")] = None,
    extractors: Annotated[str, typer.Option(
        help="comma-separated extractors (wav2vec needs a model in the HF cache)")
    ] = DEMO_EXTRACTORS,
) -> None:
    """Generate the demo corpus (RAVDESS layout) and run the full pipeline on it."""
    from mer_etl.demo import generate

    files = generate(corpus_dir)
    console.print(f"demo corpus: {len(files)} files under {corpus_dir}")
    names = _split(extractors)
    _run_and_report(RunConfig(corpora=["ravdess"], roots=[str(corpus_dir)], out=out,
                              name="demo", extractors=names, num_cpus=num_cpus,
                              shard_size=8, reconcile=False,
                              # the demo shows the face's expressions in its cue text
                              extractor_config={"faces": {"expressions": True}}
                              if "faces" in names else {}))


# OSError covers what the filesystem says under --out (no space left, permission denied):
# its message names the path, which is the one line a user needs.
KNOWN_ERRORS = (jobs.CorpusError, FileNotFoundError, DecodeError, UnknownLabelError,
                SchemaMismatchError, ValueError, KeyError, RuntimeError, OSError)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Our notes (shards written, reuse, resume) are INFO: shown with -v or MER_ETL_DEBUG; the
    # progress bar and the summary say the same for everyone.
    logging.getLogger("mer_etl").setLevel(logging.INFO if loud() else logging.WARNING)
    logging.getLogger("ray").setLevel(logging.WARNING)
    try:
        # Without standalone mode click returns a typer.Exit's code instead of exiting.
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except KNOWN_ERRORS as exc:
        if os.environ.get("MER_ETL_DEBUG"):
            raise  # the full traceback, for a bug report
        # escape: messages quote user data ("[min, max]", IEMOCAP's "[START - END]") that
        # rich would otherwise take for markup and drop; soft_wrap: one error is one line (a
        # long path must not be cut in two at the terminal's width)
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # `python -m etl.cli`, as cluster jobs run it
    main()
