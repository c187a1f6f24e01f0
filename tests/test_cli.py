import subprocess
import sys

import pytest


def test_help_and_data_commands_do_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from ftpack.cli import main; "
            "r = CliRunner().invoke(main, ['data', 'generate', '--help']); assert r.exit_code == 0; "
            "r = CliRunner().invoke(main, ['data', 'validate', '--help']); assert r.exit_code == 0; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'llama_cpp') if m in sys.modules]; "
            "assert not heavy, heavy")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("args", [[], ["data"], ["data", "generate"], ["data", "validate"], ["data", "convert"],
                                  ["score"], ["schema"]])
def test_every_command_has_help(args):
    run = subprocess.run([sys.executable, "-m", "ftpack", *args, "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "Usage:" in run.stdout
    assert len(run.stdout.split("\n\n")[1].strip()) > 10  # a real description, not just usage


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch):
    from click.testing import CliRunner

    import ftpack.data.generate
    from ftpack.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("an internal fault")

    monkeypatch.setattr(ftpack.data.generate, "write_dataset", broken)
    run = CliRunner().invoke(main, ["data", "generate"])
    assert run.exit_code == 2 and run.stderr == "error: RuntimeError: an internal fault (rerun with --debug for the traceback)\n"
    run = CliRunner().invoke(main, ["--debug", "data", "generate"])
    assert run.exit_code == 2 and "Traceback" in run.stderr and "an internal fault" in run.stderr


def test_score_command(tmp_path):
    import json

    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "1", "today": "2026-11-21", "request": "buy milk",
                                 "expected": {"action": "create_task", "title": "Buy milk"}}) + "\n")
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps('{"action":"create_task","title":"buy milk"}') + "\n")
    run = subprocess.run([sys.executable, "-m", "ftpack", "score", str(cases), str(replies)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "task_creation_accuracy: 1.0" in run.stdout


def test_schema_prints_the_reply_schema_and_the_call_schema_on_request():
    import json

    from click.testing import CliRunner

    from ftpack import anchor, taskapi
    from ftpack.cli import main

    reply = CliRunner().invoke(main, ["schema"])
    call = CliRunner().invoke(main, ["schema", "--call"])
    assert reply.exit_code == call.exit_code == 0
    assert json.loads(reply.stdout) == taskapi.reply_schema()  # what Ollama's `format` takes
    assert json.loads(call.stdout) == taskapi.json_schema()
    anchored = CliRunner().invoke(main, ["schema", "--for", "mark it done"])
    assert anchored.exit_code == 0 and json.loads(anchored.stdout) == anchor.anchored_schema("mark it done")
    both = CliRunner().invoke(main, ["schema", "--call", "--for", "mark it done"])
    assert both.exit_code == 2 and "--call and --for do not go together" in both.output and "Traceback" not in both.output
