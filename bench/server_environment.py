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
environment, answers the first N hand-written cases through `ftpack bench`'s loop (a cold start, a
warm-up, then each case), stops it, and measures
llama.cpp's floor for the same requests. Figures per variant: wall p50/p95 (median over rounds),
decode tokens/s (Ollama's eval_count / eval_duration), time to first token, served / floor, and
task-creation accuracy (which a server setting must not move). Writes
bench/reports/server-environment.{json,md}, with the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
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


def measure(run_dir: Path, host: str, cases) -> dict:
    """The cases through ftpack's own benchmark loop (a cold start, a warm-up, then each case)."""
    from ftpack.bench import CaseSet, measure as bench_cases
    from ftpack.bench.engines import ollama_engine, prompt_token_ids
    from ftpack.evalsets import HANDWRITTEN_CASES

    engine = ollama_engine(f"{MODEL}:candidate", host, False, prompt_tokens=prompt_token_ids(run_dir))
    try:
        return bench_cases(engine, [CaseSet("hand-written", HANDWRITTEN_CASES, cases)], concurrency=1)
    finally:
        engine.close()


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
    from ftpack.errors import FtpackError
    from ftpack.evalsets import HANDWRITTEN_CASES
    from ftpack.ollama_host import scratch_server
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
        try:
            with scratch_server(binary, scratch, seconds=30) as host:
                register(run_dir, MODEL, host=host, record=False)
            for round_ in range(args.rounds):
                for name, environment in variants.items():
                    with scratch_server(binary, scratch, environment, seconds=30) as host:
                        result = measure(run_dir, host, cases)
                    # the floor with the server stopped, in the same minute as what it is compared with
                    result["floor"] = floor_report(gguf, result["requests"], 500)
                    runs[name].append(result)
                    wall = result["latency"]["wall_ms"]
                    print(f"round {round_ + 1} {name}: p50 {wall['p50']} ms, p95 {wall['p95']} ms, served/floor "
                          f"{result['floor']['served_over_floor']}", flush=True)
        except FtpackError as exc:
            raise SystemExit(f"server_environment.py: {exc}") from None

    def median(values) -> float:
        return round(statistics.median(values), 3)

    figures: dict = {"binary": binary, "gguf": gguf.name, "cases": len(cases), "rounds": args.rounds}
    for name, results in runs.items():
        figures[name] = {
            "environment": variants[name],
            "p50_ms": median(r["latency"]["wall_ms"]["p50"] for r in results),
            "p95_ms": median(r["latency"]["wall_ms"]["p95"] for r in results),
            "p95_ms_per_round": [r["latency"]["wall_ms"]["p95"] for r in results],
            "ttft_p50_ms": median(r["latency"]["ttft_ms"]["p50"] for r in results),
            "decode_tok_s": median(r["latency"]["tokens_per_second"]["p50"] for r in results),
            "floor_decode_tok_s": median(r["floor"]["decode_tokens_per_second"] for r in results),
            "served_over_floor_p50": median(r["floor"]["served_over_floor"]["p50"] for r in results),
            "served_over_floor_p95": median(r["floor"]["served_over_floor"]["p95"] for r in results),
            "task_creation_accuracy": [r["accuracy"]["task_creation_accuracy"] for r in results],
        }
    write_report(args.name, f"Ollama server environment for {run_dir} ({binary})", figures)


if __name__ == "__main__":
    main()
