"""The Ollama server's own environment, measured: a scratch server restarted under each variant.

    python bench/server_environment.py RUN_DIR [--ollama BINARY] [--cases 270] [--rounds 2]
        [--variant 'NAME=VAR=VALUE,VAR=VALUE' ...]

Request options and the Modelfile cannot reach what slows a small model on few cores: the server's
threads. Ollama's Go code (the HTTP handlers, the runner streaming each token to the server) and the
compute threads share the cores, and OpenMP workers that spin after each graph take a core from the
Go code between tokens. This starts `BINARY serve` (default: `ollama` on PATH; for the harness,
`. RT/env.sh` first and pass RT/bin/ollama-lib) on a free loopback port with its own models folder
(the user's server and models are not touched), registers the run's GGUF there, and for each
variant, round after round so that a drifting machine favours none: restarts the server with that
environment, answers the first N hand-written cases after a warm-up, stops it, and measures
llama.cpp's floor for the same requests. Figures per variant: wall p50/p95 (median over rounds),
decode tokens/s (Ollama's eval_count / eval_duration), time to first token, served / floor, and
task-creation accuracy (which a server setting must not move). Writes
bench/reports/server-environment.{json,md}, with the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _report import write_report

# GOMAXPROCS caps the OS threads running Go code at once; KMP_BLOCKTIME is how long Intel OpenMP's
# workers spin after a parallel region before they sleep (default 200 ms: longer than a whole token)
VARIANTS = {
    "defaults": {},
    "GOMAXPROCS=1": {"GOMAXPROCS": "1"},
    "KMP_BLOCKTIME=1": {"KMP_BLOCKTIME": "1"},
    "GOMAXPROCS=1 KMP_BLOCKTIME=1": {"GOMAXPROCS": "1", "KMP_BLOCKTIME": "1"},
}
MODEL = "ftpack-server-env"


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition("=")
    pairs = [a.split("=", 1) for a in assignments.split(",") if a]
    if not name or any(len(p) != 2 or not p[0] for p in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VAR=VALUE[,VAR=VALUE...], e.g. 'one-go=GOMAXPROCS=1'")
    return name, dict(pairs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(binary: str, scratch: Path, environment: dict[str, str]):
    """`binary serve` on a free loopback port with this environment on top of ours; yields its address."""
    from ftpack.errors import FtpackError
    from ftpack.ollama_host import wait_until_serving

    host = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "OLLAMA_HOST": host, "OLLAMA_MODELS": str(scratch / "models"), "HOME": str(scratch),
           **environment}
    with open(scratch / "serve.log", "ab") as log:
        process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_until_serving(host, process, seconds=30)
            except FtpackError as exc:
                raise SystemExit(f"{exc}; see {scratch}/serve.log") from None
            yield host
        finally:
            process.terminate()
            process.wait(timeout=30)


def measure(run_dir: Path, gguf: Path, host: str, cases) -> dict:
    from ftpack.bench import run_cases
    from ftpack.bench.engines import ollama_engine, prompt_token_ids
    from ftpack.bench.figures import latency_summary
    from ftpack.score import score

    engine = ollama_engine(f"{MODEL}:candidate", host, False, prompt_tokens=prompt_token_ids(run_dir))
    for case in cases[:3]:  # warm-up: loaded, the system prompt cached
        engine.ask(case)
    replies, _ = run_cases(engine, cases)
    engine.close()
    summary = latency_summary([r.timing for r in replies])
    accuracy, _ = score(cases, [r.text for r in replies])
    return {"summary": summary, "accuracy": accuracy["task_creation_accuracy"],
            "requests": [{"prompt_tokens": r.timing.prompt_tokens, "eval_tokens": r.timing.eval_tokens,
                          "wall_ms": r.timing.wall_ms} for r in replies]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/taskapi")
    parser.add_argument("--ollama", default="ollama", help="the Ollama binary to start (default: `ollama` on PATH)")
    parser.add_argument("--cases", type=int, default=270, help="the first N hand-written cases")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", type=parse_variant, action="append", default=None,
                        help="NAME=VAR=VALUE[,VAR=VALUE...] (repeatable); default: " + ", ".join(VARIANTS))
    parser.add_argument("--name", default="server-environment", help="report name under bench/reports/")
    args = parser.parse_args()
    if args.cases < 1 or args.rounds < 1:
        parser.error("--cases and --rounds must be at least 1")
    binary = shutil.which(args.ollama)
    if not binary:
        parser.error(f"--ollama {args.ollama!r} is not an executable: install Ollama or pass the harness's "
                     "RT/bin/ollama-lib after `. RT/env.sh`")

    from ftpack.bench.floor import floor_report
    from ftpack.evalsets import HANDWRITTEN_CASES
    from ftpack.register import register
    from ftpack.rundir import export_path, read_metrics
    from ftpack.score import load_cases

    run_dir = Path(args.run_dir)
    metrics = read_metrics(run_dir)
    if "gguf" not in metrics.get("export", {}):
        parser.error(f"{run_dir} has no exported GGUF: run `ftpack export {run_dir}` (or `ftpack ship`) first")
    gguf = export_path(run_dir, metrics["export"]["gguf"])
    cases = load_cases(HANDWRITTEN_CASES)[: args.cases]
    variants = dict(args.variant) if args.variant else VARIANTS
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="ftpack-server-env-") as tmp:
        scratch = Path(tmp)
        with server(binary, scratch, {}) as host:
            register(run_dir, MODEL, host=host, record=False)
        for round_ in range(args.rounds):
            for name, environment in variants.items():
                with server(binary, scratch, environment) as host:
                    result = measure(run_dir, gguf, host, cases)
                # the floor with the server stopped, in the same minute as what it is compared with
                result["floor"] = floor_report(gguf, result["requests"], 500)
                runs[name].append(result)
                wall = result["summary"]["wall_ms"]
                print(f"round {round_ + 1} {name}: p50 {wall['p50']} ms, p95 {wall['p95']} ms, served/floor "
                      f"{result['floor']['served_over_floor']}", flush=True)

    def median(values) -> float:
        return round(statistics.median(values), 3)

    figures: dict = {"binary": binary, "gguf": gguf.name, "cases": len(cases), "rounds": args.rounds}
    for name, results in runs.items():
        figures[name] = {
            "environment": variants[name],
            "p50_ms": median(r["summary"]["wall_ms"]["p50"] for r in results),
            "p95_ms": median(r["summary"]["wall_ms"]["p95"] for r in results),
            "p95_ms_per_round": [r["summary"]["wall_ms"]["p95"] for r in results],
            "ttft_p50_ms": median(r["summary"]["ttft_ms"]["p50"] for r in results),
            "decode_tok_s": median(r["summary"]["tokens_per_second"]["p50"] for r in results),
            "floor_decode_tok_s": median(r["floor"]["decode_tokens_per_second"] for r in results),
            "served_over_floor_p50": median(r["floor"]["served_over_floor"]["p50"] for r in results),
            "served_over_floor_p95": median(r["floor"]["served_over_floor"]["p95"] for r in results),
            "task_creation_accuracy": [r["accuracy"] for r in results],
        }
    write_report(args.name, f"Ollama server environment for {run_dir} ({binary})", figures)


if __name__ == "__main__":
    main()
