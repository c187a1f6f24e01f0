import subprocess
import sys

import pytest

from ftpack.config import load_config
from ftpack.errors import FtpackError


def test_defaults():
    config = load_config()
    assert (config.data.seed, config.data.n_train, config.data.n_val, config.data.n_test) == (7, 500, 100, 150)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "ftpack.yaml"
    path.write_text("data:\n  seed: 11\n  n_train: 600\n")
    config = load_config(path, ["data.n_train=700"])
    assert config.data.seed == 11 and config.data.n_train == 700


@pytest.mark.parametrize("yaml_text, message", [
    ("data:\n  sede: 1\n", "unknown config key 'data.sede': data has seed"),
    ("dta:\n  seed: 1\n", "unknown config key 'dta.seed'"),
    ("data:\n  seed: many\n", "config data.seed: 'many' is not valid: input should be a valid integer"),
    ("data: [1, 2]\n", "section 'data' must be a mapping"),
    ("data:\n  seed: [\n", "not valid YAML"),
])
def test_bad_config_is_named(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(FtpackError, match=message.replace("[", r"\[")):
        load_config(path)


def test_override_needs_equals():
    with pytest.raises(FtpackError, match="section.field=value"):
        load_config(None, ["data.seed"])


def test_cli_uses_config_file_and_flags_win(tmp_path):
    path = tmp_path / "ftpack.yaml"
    path.write_text(f"data:\n  out_dir: {tmp_path / 'from-yaml'}\n  n_train: 30\n  n_val: 5\n  n_test: 5\n")
    run = subprocess.run([sys.executable, "-m", "ftpack", "--config", str(path), "--set", "data.n_val=6",
                          "data", "generate", "--test", "7"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "from-yaml"
    assert [len((out / f"{s}.jsonl").read_text().splitlines()) for s in ("train", "val", "test")] == [30, 6, 7]


def test_cli_bad_config_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  sede: 1\n")
    run = subprocess.run([sys.executable, "-m", "ftpack", "--config", str(path), "data", "generate"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}:2: unknown config key") and run.stderr.count("\n") == 1
