"""LoRA soups (train.soup_members): members with their own seeds, averaged exactly, resumable."""

import json
import math
from pathlib import Path

import pytest
from models import tiny_config

from ftpack.config import TrainConfig
from ftpack.train import train


class CrashAtSave:
    """Simulates a killed process right after the n-th checkpoint of the whole soup is written."""

    def __init__(self, nth):
        self.nth, self.saves = nth, 0

    def __getattr__(self, name):  # every other TrainerCallback event: do nothing
        return lambda *args, **kwargs: None

    def on_save(self, args, state, control, **kwargs):
        self.saves += 1
        if self.saves == self.nth:
            raise KeyboardInterrupt("simulated kill")


def soup_config(tiny_model, tiny_data, run_dir, **overrides):
    return tiny_config(tiny_model, tiny_data, run_dir,
                       **{"soup_members": 2, "max_steps": 4, "eval_steps": 4, "save_steps": 2, **overrides})


def merged_weights(base: str, adapter: Path) -> dict:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).merge_and_unload()
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.fixture(scope="module")
def soup_run(tiny_model, tiny_data, tmp_path_factory):
    cfg = soup_config(tiny_model, tiny_data, tmp_path_factory.mktemp("soup") / "run")
    return cfg, train(cfg)


def test_members_train_the_recipe_with_their_own_seeds(soup_run):
    cfg, metrics = soup_run
    members = Path(cfg.run_dir) / "members"
    configs = [json.loads((members / f"member-{i}" / "train_config.json").read_text()) for i in range(2)]
    assert [c["seed"] for c in configs] == [42, 43]
    assert all(c["train_file"] == cfg.train_file and c["soup_members"] == 1 for c in configs)
    assert metrics["soup"]["members"] == 2 and metrics["soup"]["seeds"] == [42, 43]
    member = json.loads((members / "member-0" / "metrics.json").read_text())["train"]
    assert metrics["steps"] == 8 and metrics["train_rows"] == member["train_rows"]
    assert metrics["train_seconds"] == pytest.approx(sum(metrics["soup"]["member_seconds"]))
    assert metrics["time"]["total"] >= metrics["train_seconds"] and metrics["time"]["merge"] > 0


def test_soup_adapter_is_exactly_the_mean_of_its_members(soup_run, tiny_model):
    cfg, metrics = soup_run
    run = Path(cfg.run_dir)
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (2 * cfg.lora_r, 2 * cfg.lora_alpha)
    assert metrics["soup"]["adapter_rank"] == 2 * cfg.lora_r
    soup = merged_weights(str(tiny_model), run / "adapter")
    members = [merged_weights(str(tiny_model), run / "members" / f"member-{i}" / "adapter") for i in range(2)]
    changed = 0
    for name, weight in soup.items():
        mean = (members[0][name] + members[1][name]) / 2
        assert (weight - mean).abs().max() < 1e-6, name
        changed += not bool((members[0][name] == members[1][name]).all())
    assert changed > 0  # the members differ, so the test can tell a mean from either of them


def test_soup_val_loss_is_measured_as_the_trainer_measures_it(soup_run, tiny_model, tiny_data):
    from ftpack.train import choose_precision
    from ftpack.train_soup import val_loss

    cfg, metrics = soup_run
    member = Path(cfg.run_dir) / "members" / "member-0"
    trainer_loss = json.loads((member / "metrics.json").read_text())["train"]["val_loss"]
    ours = val_loss(str(tiny_model), member / "adapter", cfg.val_file, cfg, choose_precision("auto", cuda=False))
    assert ours == pytest.approx(trainer_loss, rel=0.03)
    assert math.isfinite(metrics["val_loss"]) and metrics["soup"]["member_val_losses"][0] == trainer_loss
    assert (Path(cfg.run_dir) / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_soup_exports_and_benchmarks_like_any_run(soup_run, tmp_path):
    from ftpack.bench import bench
    from ftpack.export import export

    cfg, metrics = soup_run
    export(cfg.run_dir, ["adapter", "merged", "gguf"], "q4_k_m")
    assert (Path(cfg.run_dir) / "export" / "merged" / "model.safetensors").is_file()
    report = bench(cfg.run_dir, engine_name="llama.cpp", out_dir=tmp_path / "bench", limit=4)
    assert report["training"]["soup"]["seeds"] == [42, 43]
    assert (f"A soup of 2 runs (seeds 42, 43; {', '.join(map(str, metrics['soup']['member_seconds']))} s)"
            in (tmp_path / "bench" / "report.md").read_text())


def test_killed_soup_resumes_without_retraining_finished_members(tiny_model, tiny_data, tmp_path, capsys):
    cfg = soup_config(tiny_model, tiny_data, tmp_path / "soup")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[CrashAtSave(3)])  # member 0 saved at steps 2 and 4, member 1 at 2
    run = Path(cfg.run_dir)
    assert not (run / "adapter").exists() and (run / "members" / "member-0" / "adapter").is_dir()
    resumed = train(TrainConfig(run_dir=cfg.run_dir), resume=True)
    assert "member 1/2 already trained" in capsys.readouterr().out
    member_1 = json.loads((run / "members" / "member-1" / "metrics.json").read_text())["train"]
    assert member_1["resumed_from"].endswith("checkpoint-2")
    assert resumed["steps"] == 8 and (run / "adapter" / "adapter_model.safetensors").is_file()
