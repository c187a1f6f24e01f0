"""The `ftpack` command line: a thin layer over the stage modules.

Each command parses its flags, loads the config, calls one stage function and prints its result.
Stage modules are imported inside the commands so that `ftpack --help` stays fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from ftpack import __version__
from ftpack.config import FtpackConfig, load_config, override
from ftpack.data.cli import data
from ftpack.errors import FtpackError
from ftpack.export import QUANTS  # light modules: their heavy imports happen inside the stages
from ftpack.ship import STAGES

QUANT_NAMES = list(QUANTS)


class FtpackGroup(click.Group):
    """Turns every failure into one line on stderr (exit 2); --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports any failure
            if ctx.meta.get("ftpack.debug"):
                traceback.print_exc()
                ctx.exit(2)
            if isinstance(exc, FtpackError):
                message = str(exc)
            elif isinstance(exc, OSError) and exc.strerror:  # e.g. a full disk while a checkpoint is saved
                where = f" {exc.filename}" if exc.filename else ""
                message = f"cannot use{where}: {exc.strerror} (free disk space or check permissions, then rerun)"
            else:
                message = f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
            click.echo(f"error: {message}", err=True)
            ctx.exit(2)


def _override(ctx: click.Context, **values) -> FtpackConfig:
    return override(ctx.find_object(FtpackConfig), values)


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


main.add_command(data)


# -------------------------------------------------------------------------------------- train
def _train_options(command):
    options = [
        click.option("--base-model", "train__base_model", default=None,
                     help="Embedded name (smollm2-135m-instruct), local dir, .gguf file or HF id."),
        click.option("--data", "train__train_file", type=click.Path(dir_okay=False), default=None,
                     help="Training JSONL (chat, prompt/completion or Alpaca)."),
        click.option("--val", "train__val_file", type=click.Path(dir_okay=False), default=None,
                     help="Validation JSONL."),
        click.option("--run-dir", "train__run_dir", type=click.Path(file_okay=False), default=None,
                     help="Where the run is written (default runs/taskapi)."),
        click.option("--backend", "train__backend", type=click.Choice(["auto", "unsloth", "trl"]), default=None,
                     help="auto: Unsloth on CUDA when installed, else TRL + PEFT."),
        click.option("--chat-template", "train__chat_template", type=click.Path(dir_okay=False, exists=True),
                     default=None, help="Jinja chat template replacing the base model's."),
        click.option("--epochs", "train__epochs", type=float, default=None, help="Epochs (default 3)."),
        click.option("--max-steps", "train__max_steps", type=int, default=None,
                     help="Stop after N optimizer steps (overrides epochs)."),
        click.option("--lr", "train__learning_rate", type=float, default=None, help="Learning rate (default 2e-4)."),
        click.option("--batch-size", "train__batch_size", type=click.IntRange(1), default=None,
                     help="Per-device batch size (default 4)."),
        click.option("--grad-accum", "train__grad_accum", type=click.IntRange(1), default=None,
                     help="Gradient accumulation steps (default 4)."),
        click.option("--lora-r", "train__lora_r", type=click.IntRange(1), default=None, help="LoRA rank (default 16)."),
        click.option("--lora-alpha", "train__lora_alpha", type=click.IntRange(1), default=None,
                     help="LoRA alpha (default 16)."),
        click.option("--lora-first-layer", "train__lora_first_layer", type=click.IntRange(0), default=None,
                     help="Adapt decoder layers from this index up; the ones below train faster, untouched (default 0: all)."),
        click.option("--max-length", "train__max_length", type=click.IntRange(8), default=None,
                     help="Longest sequence in tokens (default 256); longer rows are reported and left out."),
        click.option("--soup-members", "train__soup_members", type=click.IntRange(1, 16), default=None,
                     help="Train K runs with seeds seed..seed+K-1 and average them into one adapter (K x the time; default 1)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("train")
@_train_options
@click.option("--overwrite", is_flag=True, help="Replace an existing run dir.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint.")
@click.pass_context
def train_command(ctx, overwrite, resume, **flags) -> None:
    """Stage 2: LoRA fine-tune the base model on a chat dataset (assistant-only loss)."""
    from ftpack.train import train

    cfg = _override(ctx, **flags).train
    metrics = train(cfg, overwrite=overwrite, resume=resume)
    click.echo(f"run: {cfg.run_dir}  steps {metrics['steps']}  train loss {metrics['first_train_loss']:.3f} -> "
               f"{metrics['final_train_loss']:.3f}  val loss {metrics['val_loss'] if metrics['val_loss'] is None else round(metrics['val_loss'], 4)}  "
               f"{metrics['tokens_per_second']} tokens/s  {metrics['train_seconds']} s")


@main.command("sweep")
@_train_options
@click.option("--lrs", "sweep__learning_rates", default=None, help="Comma-separated learning rates.")
@click.option("--ranks", "sweep__lora_ranks", default=None, help="Comma-separated LoRA ranks.")
@click.option("--epochs-grid", "sweep__epochs", default=None, help="Comma-separated epoch counts.")
@click.option("--overwrite", is_flag=True, help="Replace an existing sweep dir.")
@click.pass_context
def sweep_command(ctx, overwrite, **flags) -> None:
    """Train a small grid (learning rate x rank x epochs); table of val loss; best config saved."""
    from ftpack.sweep import sweep

    cfg = _override(ctx, **flags)
    result = sweep(cfg.train, cfg.sweep, overwrite=overwrite)
    click.echo(result["table"])
    click.echo(f"best: {result['best']['name']} (val loss {result['best']['val_loss']:.4f}); config: {result['best_config']}")


# -------------------------------------------------------------------------------------- export
@main.command("setup")
def setup_command() -> None:
    """Fetch what later stages need from PyPI once (llama.cpp's converter); offline afterwards."""
    from ftpack.llamacpp import ensure_converter, installed_version

    path = ensure_converter(fetch=True)
    click.echo(f"llama.cpp converter (llama-cpp-python {installed_version()}): {path}")


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "formats", default="adapter,merged,gguf", show_default=True,
              help="Comma-separated: adapter, merged, gguf.")
@click.option("--quant", type=click.Choice(QUANT_NAMES, case_sensitive=False), default="q4_k_m", show_default=True,
              help="GGUF quantization that later stages serve (llama.cpp's quantizer).")
@click.option("--also-quant", "extra_quants", type=click.Choice(QUANT_NAMES, case_sensitive=False), multiple=True,
              help="Another quantization to write beside it (repeatable).")
@click.option("--dtype", type=click.Choice(["fp16", "bf16"]), default="fp16", show_default=True,
              help="Merged model dtype.")
def export_command(run_dir, formats, quant, extra_quants, dtype) -> None:
    """Stage 3: export RUN_DIR as adapter, merged 16-bit model, and GGUF (f16 + quantized)."""
    from ftpack.export import export

    result = export(run_dir, [f.strip() for f in formats.split(",") if f.strip()], quant, dtype, extra_quants)
    for key, item in result.items():
        if isinstance(item, dict) and "path" in item:
            types = item.get("tensor_types")
            click.echo(f"{key}: {item['path']}  {item['bytes'] / 2**20:.1f} MiB"
                       + (f"  (tensors: {', '.join(f'{n} {t}' for t, n in types.items())})" if types else ""))
    if "gguf" in result:
        click.echo(f"llama.cpp test reply: {result['gguf']['smoke_test']['reply'].strip()}")
    click.echo(f"export took {result['seconds']} s")


# -------------------------------------------------------------------------------------- ollama
@main.command("modelfile")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write it (default modelfiles/<run name>/Modelfile).")
@click.option("--template", "template_file", type=click.Path(dir_okay=False), default=None,
              help="Ollama Go template file, for a chat template no shipped family covers.")
@click.option("--adapter", is_flag=True, help="FROM the base GGUF + ADAPTER the LoRA GGUF.")
def modelfile_command(run_dir, out, template_file, adapter) -> None:
    """Stage 4: write an Ollama Modelfile with the exact training chat template and stop tokens."""
    from ftpack.modelfile import write_modelfile

    path, spec = write_modelfile(run_dir, out, template_file, adapter)
    click.echo(f"{path}  (template family: {spec.family or 'custom'}, stop: {', '.join(spec.stop)})")


@main.command("register")
@click.argument("run_dir", type=click.Path())
@click.option("--name", required=True, help="Model name in Ollama (e.g. taskapi).")
@click.option("--tag", default="candidate", show_default=True, help="Tag to create.")
@click.option("--template", "template_file", type=click.Path(dir_okay=False), default=None,
              help="Ollama Go template file replacing the detected family's.")
@click.option("--adapter", is_flag=True, help="FROM the base GGUF + ADAPTER the LoRA GGUF.")
@click.option("--host", default=None, help="Ollama address (default OLLAMA_HOST or 127.0.0.1:11434).")
def register_command(run_dir, name, tag, template_file, adapter, host) -> None:
    """Stage 5: create NAME:TAG in the local Ollama, after checking template parity on the server.

    RUN_DIR may also be a bundle from `ftpack pack` (the .tar or its unpacked folder)."""
    from ftpack.pack import is_bundle, register_bundle
    from ftpack.register import register

    if is_bundle(run_dir):
        if template_file or adapter:
            raise FtpackError("--template and --adapter apply to a run dir, not to a bundle (it carries its Modelfile)")
        result = register_bundle(run_dir, name, tag, host)
    else:
        result = register(run_dir, name, tag, adapter, template_file, host)
    sent = f"uploaded {len(result['uploaded'])} blob(s)" if result["uploaded"] else "blobs already on the server"
    click.echo(f"registered {result['model']} in Ollama {result['ollama']} at {result['host']} ({sent}); "
               f"template parity: {len(result['parity'])} probes ok")
    if not all(p["tokenizer_agrees"] for p in result["parity"]):
        click.echo("warning: this Ollama tokenizes the prompt into a different number of tokens than the HF "
                   "tokenizer used in training (see metrics.json register.parity)", err=True)
    click.echo(f'try: ollama run {result["model"]} "remind me to call mom tomorrow"')


# -------------------------------------------------------------------------------------- bench
@main.command("bench")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--model", default=None, help="Ollama model (default: the one `ftpack register` created).")
@click.option("--cases", "cases_file", type=click.Path(dir_okay=False), default=None,
              help="Case file {id,today,request,expected[,class]} to judge instead of the default sets "
                   "(ftpack's two hand-written sets, the first judged, and the dataset's generated test_cases.jsonl).")
@click.option("--engine", "engine_name", type=click.Choice(["auto", "ollama", "llama.cpp"]), default="auto",
              show_default=True, help="auto: Ollama if reachable, else embedded llama.cpp.")
@click.option("--structured", is_flag=True, help="Constrain decoding with the Task API JSON Schema.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Also measure throughput with N concurrent clients.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N cases of each set.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), default=None,
              help="YAML spec (default: val_loss_max 1.0, task_creation_accuracy_min 0.9, latency_p95_ms_max 500, "
                   "invented_id_rate_max 0).")
@click.option("--compare-f16", is_flag=True, help="Also run the f16 GGUF and report the accuracy delta.")
@click.option("--strict", is_flag=True, help="Exit 1 when any spec criterion fails.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Report folder (default RUN_DIR/bench).")
@click.option("--host", default=None, help="Ollama address (default OLLAMA_HOST or 127.0.0.1:11434).")
def bench_command(run_dir, model, cases_file, engine_name, structured, concurrency, limit, spec_file, compare_f16,
                  strict, out_dir, host) -> None:
    """Stage 6: latency and Task API accuracy through Ollama, judged against the spec."""
    from ftpack.bench import bench
    from ftpack.bench.report import set_summary

    report = bench(run_dir, model, cases_file, host, engine_name, structured, concurrency, limit, spec_file,
                   compare_f16, out_dir)
    lat = report["latency"]["wall_ms"]
    click.echo(f"{report['model']} via {report['engine']}: p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
               f"cold {report['cold_start']['wall_ms']:.0f} ms")
    for name, one in report["sets"].items():
        click.echo(f"  {set_summary(name, one)}")
    for verdict in report["spec"]["criteria"]:
        click.echo(f"  {'PASS' if verdict['passed'] else 'FAIL'}  {verdict['criterion']}  (got {verdict['value']})")
    if report.get("floor", {}).get("advice"):
        click.echo(f"  note: {report['floor']['advice']}")
    click.echo(f"reports: {Path(out_dir or Path(run_dir) / 'bench')}/report.md, report.json, latency.png, accuracy.png")
    if strict and not report["spec"]["passed"]:
        sys.exit(1)


# -------------------------------------------------------------------------------------- pack
@main.command("pack")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Archive to write (default: RUN_DIR's name + .tar beside RUN_DIR).")
@click.option("--name", default=None, help="Model name in the bundle's README and file names (default: RUN_DIR's name).")
def pack_command(run_dir, out, name) -> None:
    """Stage 8: one portable .tar (GGUF, relative Modelfile, template, report, manifest) for another machine."""
    from ftpack.pack import pack

    result = pack(run_dir, out, name)
    click.echo(f"{result['archive']}  {result['bytes'] / 2**20:.1f} MiB  ({', '.join(result['files'])})")
    click.echo(f"on the machine with Ollama: tar xf {Path(result['archive']).name} && cd {result['name']} && "
               f"ollama create {result['name']} -f Modelfile")
    click.echo(f"or: ftpack register {Path(result['archive']).name} --name {result['name']}")


# -------------------------------------------------------------------------------------- ship
@main.command("ship")
@click.option("--from", "force_from", type=click.Choice(STAGES), default=None,
              help="Redo this stage and every later one, even if up to date.")
@click.option("--name", "ship__name", default=None, help="Ollama model name (default taskapi).")
@click.option("--run-dir", "train__run_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/taskapi).")
@click.option("--base-model", "train__base_model", default=None, help="Base model (default smollm2-135m-instruct).")
@click.option("--host", "ship__host", default=None, help="Ollama address (default OLLAMA_HOST or 127.0.0.1:11434).")
@click.pass_context
def ship_command(ctx, force_from, **flags) -> None:
    """Stage 7: data -> train -> export -> modelfile -> register -> bench -> promote, resumable."""
    from ftpack.ship import Ship, summary

    cfg = _override(ctx, **flags)
    manifest = Ship(cfg, force_from, log=lambda line: click.echo(f"ftpack ship: {line}")).run()
    click.echo("")
    for line in summary(manifest):
        click.echo(line)
    click.echo(f"manifest: {Path(cfg.train.run_dir) / 'run.json'}")
    if not manifest["spec_passed"]:
        click.echo(f"spec not met: {manifest['model'] or 'the model'} stays a candidate", err=True)
        sys.exit(1)


# -------------------------------------------------------------------------------------- score
@main.command("score")
@click.argument("cases", type=click.Path(dir_okay=False))
@click.argument("replies", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full metrics as JSON.")
def score_command(cases, replies, as_json) -> None:
    """Score REPLIES (one JSON string or {"reply": ...} per line) against a CASES file."""
    from ftpack.score import load_cases, load_replies, score

    metrics, _ = score(load_cases(cases), load_replies(replies))
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    for key in ("n_cases", "task_creation_accuracy", "all_operations_accuracy", "json_valid_rate",
                "schema_valid_rate"):
        click.echo(f"{key}: {metrics[key]}")
    click.echo("create fields: " + ", ".join(f"{k} {v}" for k, v in metrics["create_field_accuracy"].items()))
    click.echo(f"failures: {len(metrics['failures'])}")


@main.command("schema")
@click.option("--call", "call_form", is_flag=True,
              help="The schema of the decoded Task API call a client acts on, not of the reply.")
@click.option("--for", "request", metavar="REQUEST",
              help="The reply's schema narrowed to what REQUEST holds (its words, date phrases and ids): "
                   "the client's second try.")
def schema_command(call_form: bool, request: str | None) -> None:
    """Print the JSON Schema of the assistant's reply (Ollama's `format` takes it)."""
    from ftpack import anchor, taskapi

    if call_form and request is not None:
        raise FtpackError("--call and --for do not go together: the call's schema is the same for every request; drop one")
    if request is not None:
        click.echo(json.dumps(anchor.anchored_schema(request), indent=2, ensure_ascii=False))
        return
    click.echo(json.dumps(taskapi.json_schema() if call_form else taskapi.reply_schema(), indent=2))


if __name__ == "__main__":
    main()
