"""Stage 4: an Ollama Modelfile whose TEMPLATE renders exactly the chat template used in training.

The training template (RUN_DIR/chat_template.jinja) is matched to a family under
modelfiles/templates/ by rendering probe conversations with both Jinja templates; the family's Go
template becomes TEMPLATE. Stop tokens are the template's end-of-turn tokens. `--template FILE`
takes a Go template for a template no family covers; `ftpack register` then proves it against
the real Ollama, as it does every template.

SYSTEM carries the Task API system prompt (`ftpack.taskapi.SYSTEM_PROMPT`), the same constant
text used in training and by every client: it holds no date, so it never goes stale, and a
client that sends it (or none) hits the prefix Ollama already has cached.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.fsutil import read_text, write_text_atomic
from ftpack.rundir import export_path, finished_run, load_run_base_model, load_run_config, read_run_file

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "modelfiles" / "templates"
FAMILY_STOPS = {"chatml": ["<|im_end|>"], "llama3": ["<|eot_id|>"], "gemma": ["<end_of_turn>"],
                "mistral": ["</s>"], "phi3": ["<|end|>"]}
PROBES = [
    [{"role": "system", "content": "S1"}, {"role": "user", "content": "U1"}],
    [{"role": "system", "content": "S1"}, {"role": "user", "content": "U1"}, {"role": "assistant", "content": "A1"},
     {"role": "user", "content": "U2"}],
]


@dataclass
class ModelfileSpec:
    gguf: str  # FROM: the model GGUF (or the base GGUF when adapter is set)
    template: str  # Ollama Go template
    system: str
    stop: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    license: str | None = None
    adapter: str | None = None  # ADAPTER: a LoRA GGUF on top of `gguf`
    chat_template: str = ""  # the training Jinja template (for parity checks)

    def render(self, header: str = "") -> str:
        lines = [f"# {line}" for line in header.splitlines()]
        lines.append(f"FROM {self.gguf}")
        if self.adapter:
            lines.append(f"ADAPTER {self.adapter}")
        lines.append(f'TEMPLATE """{self.template}"""')
        lines.append(f'SYSTEM """{self.system}"""')
        for stop in self.stop:
            lines.append(f"PARAMETER stop {json.dumps(stop)}")
        for key, value in self.parameters.items():
            lines.append(f"PARAMETER {key} {value}")
        if self.license:
            lines.append(f'LICENSE """{self.license}"""')
        return "\n".join(lines) + "\n"


def families() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.tmpl"))


def render_jinja(template: str, messages: list[dict[str, str]], bos: str = "", eos: str = "") -> str:
    """Render an HF chat template the way transformers does (sandboxed Jinja, trim_blocks)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # transformers' settings and helpers, without importing transformers (modelfile stays fast)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: dt.datetime.now().strftime(fmt)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token=bos,
                                            eos_token=eos)


def _raise(message: str):
    raise FtpackError(f"chat template: {message}")


def detect_family(chat_template: str, bos: str, eos: str) -> str | None:
    """The family whose reference Jinja renders every probe exactly like the training template."""
    wanted = [render_jinja(chat_template, p, bos, eos) for p in PROBES]
    for family in families():
        reference = (TEMPLATES_DIR / f"{family}.jinja").read_text("utf-8")
        if [render_jinja(reference, p, bos, eos) for p in PROBES] == wanted:
            return family
    return None


def num_ctx_for(max_length: int) -> int:
    """A context that fits the longest training sequence plus a reply, rounded up."""
    need = max_length + 128
    return next((n for n in (512, 1024, 2048, 4096, 8192, 16384, 32768) if n >= need), need)


def build_spec(run_dir: str | Path, template_file: str | None = None, adapter: bool = False) -> ModelfileSpec:
    run_dir = Path(run_dir)
    metrics = finished_run(run_dir)
    export = metrics.get("export")
    if not export or "gguf" not in export:
        raise FtpackError(f"{run_dir} has no GGUF export: run `ftpack export {run_dir}` first")
    train_metrics = metrics["train"]
    chat_template = read_run_file(run_dir, "chat_template.jinja")
    tokenizer_config = json.loads(read_run_file(run_dir, "adapter/tokenizer_config.json"))
    bos, eos = _token_text(tokenizer_config.get("bos_token")), _token_text(tokenizer_config.get("eos_token"))
    if template_file:
        path = Path(template_file)
        if not path.is_file():
            raise FtpackError(f"template file not found: {template_file}")
        family, template = None, read_text(path)
    else:
        family = detect_family(chat_template, bos, eos)
        if family is None:
            raise FtpackError("the training chat template matches none of the supported families "
                              f"({', '.join(families())}): write its Ollama Go template to a file and pass "
                              "--template FILE (register checks it against Ollama)")
        template = (TEMPLATES_DIR / f"{family}.tmpl").read_text("utf-8")
    # A sentinel, not the real text: in ChatML the BOS token is also the turn marker.
    if bos and render_jinja(chat_template, PROBES[0], "\x00BOS\x00", eos).startswith("\x00BOS\x00"):
        from ftpack.export import gguf_metadata

        if not gguf_metadata(export_path(run_dir, export["gguf"])).get("add_bos_token"):
            # The training prompt starts with BOS but this GGUF does not tell llama.cpp to add one:
            # the template must write it, or Ollama's prompt would lack the token training had.
            template = bos + template
    stops = list(dict.fromkeys([*FAMILY_STOPS.get(family, []), *train_metrics.get("stop_tokens", [])]))
    base = load_run_base_model(run_dir)
    cfg = load_run_config(run_dir)
    if adapter:
        if "adapter_gguf" not in export or "base_gguf" not in export:
            raise FtpackError(f"{run_dir} has no GGUF adapter: run `ftpack export {run_dir} --format gguf`")
        gguf, adapter_path = export_path(run_dir, export["base_gguf"]), export_path(run_dir, export["adapter_gguf"])
    else:
        gguf, adapter_path = export_path(run_dir, export["gguf"]), None
    for path in (gguf, adapter_path):
        if path and not Path(path).is_file():
            raise FtpackError(f"{path} is missing: rerun `ftpack export {run_dir}`")
    license_text = None
    if base.license:
        license_text = f"{base.license} (weights of the base model {base.name}; fine-tuned with ftpack)"
    return ModelfileSpec(
        gguf=str(Path(gguf).resolve()), adapter=str(Path(adapter_path).resolve()) if adapter_path else None,
        template=template, system=taskapi.SYSTEM_PROMPT, stop=stops,
        parameters={"temperature": 0, "num_ctx": num_ctx_for(cfg.max_length)}, family=family,
        license=license_text, chat_template=chat_template)


def _token_text(token: Any) -> str:
    if isinstance(token, dict):
        return token.get("content", "")
    return token or ""


def write_modelfile(run_dir: str | Path, out: str | Path | None = None, template_file: str | None = None,
                    adapter: bool = False) -> tuple[Path, ModelfileSpec]:
    run_dir = Path(run_dir)
    spec = build_spec(run_dir, template_file, adapter)
    out = Path(out) if out else TEMPLATES_DIR.parent / run_dir.name / ("Modelfile.adapter" if adapter else "Modelfile")
    header = (f"Generated by ftpack from {run_dir.resolve()}\n"
              f"Chat template family: {spec.family or 'custom (--template)'}\n"
              "SYSTEM is the training system prompt; it holds no date (clients resolve date phrases).")
    write_text_atomic(out, spec.render(header))
    return out, spec
