"""LoRA soups: K runs of one recipe on the same rows with seeds seed..seed+K-1, averaged into one adapter.

Runs of one recipe that differ only in their seed land far apart on requests people type (ship.yaml:
hand-written creates 86.7-94.7 % over three seeds): which mistakes a 135M model makes depends on
its initialization and the order it saw the rows in. Averaging the weight deltas of runs trained
from the same base cancels much of that (a "model soup", Wortsman et al. 2022). Averaging the LoRA
factors A and B one by one would not average the deltas B @ A; stacking them does, exactly:
A = [A1; A2] and B = [B1 / 2, B2 / 2] give B @ A = (B1 @ A1 + B2 @ A2) / 2, an adapter of rank
K x r that export merges and converts like any other, served at the cost of one model.

Training costs K runs. Measured on the ship recipe (bench/reports/soup-*): two seeds' soup beat
both of its members on all three evaluation sets, three did better still on the set never tuned
on; a soup of two members that each trained on half of the rows (the cost of one run) fell below
either member, and one of a run's last two checkpoints gained nothing: the members must each
be fully trained, and differ by more than a few hundred steps.

  RUN_DIR/members/member-K/   member K's own run directory (adapter, checkpoints, loss, metrics)
  RUN_DIR/adapter/            the soup, rank K x r
  RUN_DIR/loss.png            every member's loss curves
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from ftpack import base_model as base_models
from ftpack.config import TrainConfig
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path, read_text, write_text_atomic
from ftpack.rundir import close_run, is_run, read_metrics, resumable, update_metrics
from ftpack.train_monitor import plot_loss_rows, read_loss_rows
from ftpack.train_timing import PhaseClock

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


# ------------------------------------------------------------------------------- the pieces
def merge_adapters(adapters: list[Path], out: Path) -> None:
    """Write the mean of the adapters' deltas B @ A as one adapter of their summed rank (exact)."""
    import torch
    from safetensors.torch import load_file, save_file

    configs = [json.loads(read_text(adapter / ADAPTER_CONFIG)) for adapter in adapters]
    for adapter, config in zip(adapters, configs):
        unsupported = [key for key in ("use_rslora", "use_dora", "rank_pattern", "alpha_pattern") if config.get(key)]
        if unsupported:
            raise FtpackError(f"{adapter}: {', '.join(unsupported)} set: a soup stacks plain LoRA factors only")
    scalings = {config["lora_alpha"] / config["r"] for config in configs}
    if len(scalings) != 1:
        raise FtpackError(f"adapters {', '.join(map(str, adapters))} scale their deltas differently "
                          "(lora_alpha / r): a soup needs one recipe")
    tensors = [load_file(adapter / ADAPTER_WEIGHTS) for adapter in adapters]
    if any(set(t) != set(tensors[0]) for t in tensors):
        raise FtpackError(f"adapters {', '.join(map(str, adapters))} adapt different layers: a soup needs one recipe")
    weight = 1.0 / len(adapters)
    merged = {}
    for key in tensors[0]:
        parts = [t[key] for t in tensors]
        if ".lora_A." in key:
            merged[key] = torch.cat(parts, dim=0).contiguous()
        elif ".lora_B." in key:
            merged[key] = torch.cat([part * weight for part in parts], dim=1).contiguous()
        else:
            raise FtpackError(f"{adapters[0] / ADAPTER_WEIGHTS}: {key} is neither a LoRA A nor a B factor")
    config = dict(configs[0])
    config["r"] = sum(c["r"] for c in configs)
    config["lora_alpha"] = scalings.pop() * config["r"]
    with atomic_path(out) as tmp:
        shutil.copytree(adapters[0], tmp, ignore=shutil.ignore_patterns(ADAPTER_WEIGHTS, ADAPTER_CONFIG))
        save_file(merged, tmp / ADAPTER_WEIGHTS, metadata={"format": "pt"})
        write_text_atomic(tmp / ADAPTER_CONFIG, json.dumps(config, indent=2) + "\n")


def val_loss(base_path: str, adapter: Path, val_file: str, cfg: TrainConfig, precision: str) -> float:
    """Mean loss over the assistant tokens of val_file, as the trainer scores them, for one adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftpack.train import tokenize_file

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32 if device == "cpu" else dtype)
    model = PeftModel.from_pretrained(model, adapter).to(device).eval()
    rows = tokenize_file(tokenizer, val_file, cfg.max_length, "val")[0]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total, tokens = 0.0, 0
    with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=precision != "fp32"):
        for start in range(0, len(rows), cfg.batch_size):
            batch = rows[start:start + cfg.batch_size]
            width = max(len(r["input_ids"]) for r in batch)
            ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in batch], device=device)
            labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in batch], device=device)
            mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in batch],
                                device=device)
            scored = int((labels[:, 1:] != -100).sum())  # the model shifts labels by one
            total += float(model(input_ids=ids, attention_mask=mask, labels=labels).loss) * scored
            tokens += scored
    return total / tokens


def soup_metrics(members: list[dict[str, Any]], soup_val_loss: float | None, seeds: list[int], rank: int,
                 clock: PhaseClock) -> dict[str, Any]:
    """The soup's metrics.json "train" section: what one run reports, summed over its members."""
    first = members[0]
    summed = {key: sum(m[key] for m in members) for key in ("steps", "trainable_params")}
    summed["train_seconds"] = round(sum(m["train_seconds"] for m in members), 1)  # as one run rounds its own
    phases = {phase: sum(m["time"].get(phase, 0.0) for m in members) for phase in first["time"] if phase != "total"}
    final_losses = [m["final_train_loss"] for m in members]
    return {
        **first, **summed,
        "final_train_loss": None if None in final_losses else sum(final_losses) / len(final_losses),
        "val_loss": soup_val_loss,
        "tokens_per_second": round(first["train_tokens"] * first["epochs"] * len(members) / summed["train_seconds"], 1),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in members),
        "resumed_from": next((m["resumed_from"] for m in members if m["resumed_from"]), None),
        "warnings": [w for m in members for w in m["warnings"]],
        "soup": {"members": len(members), "seeds": seeds, "adapter_rank": rank,
                 "member_val_losses": [m["val_loss"] for m in members],
                 "member_seconds": [m["train_seconds"] for m in members]},
        "time": clock.report(phases),  # the members' phases summed, the merge and the soup's evaluation
    }


# ------------------------------------------------------------------------------- the run
def train_soup(work_dir: Path, cfg: TrainConfig, extra_callbacks: Iterable[Any]) -> dict[str, Any]:
    """Train cfg.soup_members members in work_dir (a run folder opened by train()) and average them."""
    from ftpack.train import choose_precision, train

    clock = PhaseClock()
    base = base_models.resolve(cfg.base_model)
    write_text_atomic(work_dir / "train_config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    write_text_atomic(work_dir / "base_model.json", base.to_json() + "\n")
    folder = work_dir / "members"
    members, seeds = [], []
    for index in range(cfg.soup_members):
        member_dir = folder / f"member-{index}"
        member = dataclasses.replace(cfg, soup_members=1, run_dir=str(member_dir), seed=cfg.seed + index)
        seeds.append(member.seed)
        finished = read_metrics(member_dir).get("train") if is_run(member_dir) else None
        if finished:
            print(f"ftpack: soup member {index + 1}/{cfg.soup_members} already trained: {member_dir}", flush=True)
            members.append(finished)
            continue
        print(f"ftpack: soup member {index + 1}/{cfg.soup_members}: seed {member.seed} (each member trains as long "
              "as one run: its estimate is for itself alone)", flush=True)
        members.append(train(member, resume=resumable(member_dir) is not None, overwrite=True,
                             extra_callbacks=extra_callbacks))
    with clock.phase("merge"):
        merge_adapters([folder / f"member-{i}" / "adapter" for i in range(cfg.soup_members)], work_dir / "adapter")
        shutil.copy(folder / "member-0" / "chat_template.jinja", work_dir / "chat_template.jinja")
        plot_loss_rows(work_dir, {f"member {i}": read_loss_rows(folder / f"member-{i}") for i in range(cfg.soup_members)})
    with clock.phase("soup_eval"):
        soup_val = (val_loss(base.path, work_dir / "adapter", cfg.val_file, cfg, choose_precision(cfg.precision,
                    cuda=_cuda())) if cfg.val_file else None)
    metrics = soup_metrics(members, soup_val, seeds, cfg.lora_r * len(members), clock)
    print(f"ftpack: soup of {len(members)}: val loss {soup_val if soup_val is None else round(soup_val, 4)} "
          f"(members {', '.join(str(round(m['val_loss'], 4)) for m in members if m['val_loss'] is not None)})",
          flush=True)
    update_metrics(work_dir, "train", metrics)
    close_run(work_dir, Path(cfg.run_dir))
    return metrics


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
