import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.modelfile import TEMPLATES_DIR, build_spec, detect_family, families, num_ctx_for, write_modelfile
from ftpack.rundir import export_path, read_metrics

FAMILIES = ["chatml", "gemma", "llama3", "mistral", "phi3"]


def test_shipped_families():
    assert families() == FAMILIES
    for family in FAMILIES:
        assert (TEMPLATES_DIR / f"{family}.jinja").is_file() and (TEMPLATES_DIR / f"{family}.tmpl").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_each_reference_template_is_detected_as_its_family(family):
    from models import FAMILY_TOKENS

    bos, eos, _ = FAMILY_TOKENS[family]
    assert detect_family((TEMPLATES_DIR / f"{family}.jinja").read_text(), bos or "", eos or "") == family


def test_smollm2_template_is_chatml(smollm2_tokenizer):
    assert detect_family(smollm2_tokenizer.chat_template, "<|im_start|>", "<|im_end|>") == "chatml"


def test_unknown_template_is_not_matched():
    assert detect_family("{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}", "", "") is None


def test_num_ctx_fits_the_data():
    assert num_ctx_for(256) == 512
    assert num_ctx_for(1024) == 2048


def test_modelfile_for_the_tiny_run(tiny_export, tmp_path):
    run_dir, result = tiny_export
    path, spec = write_modelfile(run_dir, tmp_path / "Modelfile")
    text = path.read_text()
    assert f"FROM {Path(result['gguf']['path']).resolve()}\n" in text
    assert f'TEMPLATE """{(TEMPLATES_DIR / "chatml.tmpl").read_text()}"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "PARAMETER temperature 0" in text and "PARAMETER num_ctx 512" in text
    assert f'SYSTEM """{taskapi.SYSTEM_PROMPT}"""' in text  # constant: it never goes stale
    assert spec.family == "chatml"
    adapter_path, adapter_spec = write_modelfile(run_dir, tmp_path / "Modelfile.adapter", adapter=True)
    assert f"ADAPTER {Path(result['adapter_gguf']['path']).resolve()}" in adapter_path.read_text()
    assert adapter_spec.gguf.endswith("base-f16.gguf")


def test_a_copied_run_serves_its_own_export(tiny_export, tmp_path, monkeypatch):
    """metrics.json keeps export paths as the export command saw them (relative to its working
    directory); a run dir copied elsewhere, used from another directory, serves its own files."""
    run_dir, _ = tiny_export
    copy = Path(shutil.copytree(run_dir, tmp_path / "elsewhere" / "run"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    spec = build_spec("run")
    assert spec.gguf == str((copy / "export" / "model-q4_k_m.gguf").resolve())
    adapter_spec = build_spec("run", adapter=True)
    assert adapter_spec.adapter == str((copy / "export" / "adapter-f16.gguf").resolve())
    assert export_path("run", read_metrics("run")["export"]["merged"]) == Path("run/export/merged")
    assert export_path("run", None) is None


def test_unknown_training_template_asks_for_a_template_file(tiny_run, tmp_path):
    import shutil

    cfg, _ = tiny_run
    run = tmp_path / "odd"
    shutil.copytree(cfg.run_dir, run, ignore=shutil.ignore_patterns("checkpoints"))
    (run / "chat_template.jinja").write_text("{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")
    with pytest.raises(FtpackError, match="matches none of the supported families \\(chatml, gemma, llama3, mistral, phi3\\).*--template FILE"):
        write_modelfile(run, tmp_path / "Modelfile")
    custom = tmp_path / "custom.tmpl"
    custom.write_text("{{ range .Messages }}### {{ .Role }}: {{ .Content }}\n{{ end }}")
    path, spec = write_modelfile(run, tmp_path / "Modelfile", template_file=str(custom))
    assert spec.family is None and custom.read_text() in path.read_text()


def test_modelfile_command_is_light_and_errors_are_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ftpack", "modelfile", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    code = ("import sys; from click.testing import CliRunner; from ftpack.cli import main; "
            "CliRunner().invoke(main, ['modelfile', '--help']); "
            "assert not [m for m in ('torch', 'transformers') if m in sys.modules]")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
