"""The `ftpack` command line: a thin layer over the stage modules.

Each command parses its flags, loads the config, calls one stage function and prints its result.
Stage modules are imported inside the commands so that `ftpack --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ftpack import __version__
from ftpack.config import FtpackConfig, apply, load_config
from ftpack.errors import FtpackError


class FtpackGroup(click.Group):
    """Turns every failure into one line on stderr (exit 2); --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports any failure
            if ctx.meta.get("ftpack.debug"):
                raise
            if isinstance(exc, FtpackError):
                message = str(exc)
            else:
                message = f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
            click.echo(f"error: {message}", err=True)
            ctx.exit(2)


def _config(ctx: click.Context) -> FtpackConfig:
    return ctx.find_object(FtpackConfig)


def _override(ctx: click.Context, **values) -> FtpackConfig:
    """Apply a command's own flags (those given) on top of the loaded config."""
    config = _config(ctx)
    for key, value in values.items():
        if value is not None:
            apply(config, key.replace("__", "."), value)
    return config


@click.group(cls=FtpackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftpack")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (sections: data, ...).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config value; repeatable.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, overrides: tuple[str, ...], debug: bool) -> None:
    """ftpack: fine-tune a base model on a task dataset and ship it, quantized, to a local Ollama.

    Stages: data -> train -> export -> modelfile -> register -> bench; `ship` runs them all.
    """
    ctx.meta["ftpack.debug"] = debug
    try:
        ctx.obj = load_config(config_path, overrides)
    except FtpackError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)


# --------------------------------------------------------------------------------------- data
@main.group()
def data() -> None:
    """Stage 1: the Task API dataset (generate, validate, convert)."""


@data.command("generate")
@click.option("--seed", type=int, default=None, help="Random seed (default 7); same seed -> identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default data/taskapi).")
@click.option("--train", "n_train", type=click.IntRange(1), default=None, help="Training rows (default 500).")
@click.option("--val", "n_val", type=click.IntRange(1), default=None, help="Validation rows (default 100).")
@click.option("--test", "n_test", type=click.IntRange(1), default=None, help="Test rows (default 150).")
@click.pass_context
def data_generate(ctx, seed, out_dir, n_train, n_val, n_test) -> None:
    """Write the Task API dataset: train/val/test.jsonl (chat) and val/test_cases.jsonl (cases)."""
    from ftpack.data.generate import write_dataset

    cfg = _override(ctx, data__seed=seed, data__out_dir=out_dir, data__n_train=n_train,
                    data__n_val=n_val, data__n_test=n_test).data
    counts = write_dataset(cfg.out_dir, cfg.seed, cfg.n_train, cfg.n_val, cfg.n_test)
    for name, count in counts.items():
        click.echo(f"{Path(cfg.out_dir) / name}: {count} rows")


@data.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--schema", type=click.Choice(["taskapi"]), default=None,
              help="Also check that every assistant reply is a valid Task API v1 call.")
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


# -------------------------------------------------------------------------------------- score
@main.command("score")
@click.argument("cases", type=click.Path(dir_okay=False))
@click.argument("replies", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full metrics as JSON.")
def score_command(cases, replies, as_json) -> None:
    """Score REPLIES (one JSON string or {"reply": ...} per line) against a CASES file."""
    from ftpack.score import load_cases, score

    texts = []
    for lineno, line in enumerate(Path(replies).read_text("utf-8").splitlines(), 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise FtpackError(f"{replies}:{lineno}: not JSON (each line: a JSON string or {{\"reply\": ...}})") from None
        texts.append(item["reply"] if isinstance(item, dict) else str(item))
    metrics, _ = score(load_cases(cases), texts)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    for key in ("n_cases", "task_creation_accuracy", "all_operations_accuracy", "json_valid_rate",
                "schema_valid_rate"):
        click.echo(f"{key}: {metrics[key]}")
    click.echo("create fields: " + ", ".join(f"{k} {v}" for k, v in metrics["create_field_accuracy"].items()))
    click.echo(f"failures: {len(metrics['failures'])}")


@main.command("schema")
def schema_command() -> None:
    """Print the Task API v1 JSON Schema."""
    from ftpack import taskapi

    click.echo(json.dumps(taskapi.json_schema(), indent=2))


if __name__ == "__main__":
    main()
