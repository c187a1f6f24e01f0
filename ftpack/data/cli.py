"""`ftpack data`: stage 1's commands (generate, validate, convert), part of the `ftpack` command line.

Like every command, each imports its stage inside, so that `ftpack --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftpack.config import FtpackConfig, override


@click.group()
def data() -> None:
    """Stage 1: the Task API dataset (generate, validate, convert)."""


@data.command("generate")
@click.option("--seed", type=int, default=None, help="Random seed (default 7); same seed -> identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default data/taskapi).")
@click.option("--train", "n_train", type=click.IntRange(1), default=None, help="Training rows (default 500).")
@click.option("--written", "n_written", type=click.IntRange(0), default=None,
              help="Of the training rows, how many are written as people type instead of generated (default 0).")
@click.option("--val", "n_val", type=click.IntRange(1), default=None, help="Validation rows (default 100).")
@click.option("--test", "n_test", type=click.IntRange(1), default=None, help="Test rows (default 150).")
@click.pass_context
def data_generate(ctx, seed, out_dir, n_train, n_written, n_val, n_test) -> None:
    """Write the Task API dataset: train/val/test.jsonl (chat) and val/test_cases.jsonl (cases)."""
    from ftpack.data.generate import write_dataset

    flags = dict(data__seed=seed, data__out_dir=out_dir, data__n_train=n_train, data__n_written=n_written,
                 data__n_val=n_val, data__n_test=n_test)
    cfg = override(ctx.find_object(FtpackConfig), flags).data
    counts = write_dataset(cfg.out_dir, cfg.seed, cfg.n_train, cfg.n_val, cfg.n_test, cfg.n_written,
                           tuple(cfg.written_actions))
    for name, count in counts.items():
        click.echo(f"{Path(cfg.out_dir) / name}: {count} rows")


@data.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--schema", type=click.Choice(["taskapi"]), default=None,
              help="Also check that every assistant reply is a valid Task API reply.")
def data_validate(files, schema) -> None:
    """Check dataset FILES (chat, prompt/completion or Alpaca JSONL); report every bad row."""
    from ftpack.data.validate import validate_file

    bad = 0
    for file in files:
        rows, problems = validate_file(file, schema)
        for p in problems:
            click.echo(f"{file}:{p.line}: {p.reason}", err=True)
        bad += len(problems)
        status = "ok" if not problems else f"{len(problems)} bad row(s)"
        click.echo(f"{file}: {rows} rows, {status}")
    if bad:
        sys.exit(1)


@data.command("convert")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--system", default=None, help="System prompt to add to conversations without one.")
def data_convert(src, dst, system) -> None:
    """Convert SRC (prompt/completion or Alpaca JSONL) into chat-form DST."""
    from ftpack.data.validate import convert_file

    click.echo(f"{dst}: {convert_file(src, dst, system)} conversations")
