"""The benchmark's reports: report.json, report.md and the latency and accuracy plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftpack.fsutil import atomic_path, write_text_atomic


def write_reports(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown(report))
    plot(out, report)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return str(value)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


ACCURACY_ROWS = (("task_creation_accuracy", "task-creation accuracy"), ("all_operations_accuracy", "all operations"),
                 ("clarify_accuracy", "clarify accuracy"), ("invented_id_rate", "invented-task-id rate"),
                 ("json_valid_rate", "JSON valid"), ("schema_valid_rate", "schema valid"))

# what a client acts on: a reply that is malformed or not anchored in its request (anchor.needs_second_try) asked
# again under the request's anchored schema, then taskapi.guard_call
CLIENT_ROWS = tuple((key, dict(ACCURACY_ROWS)[key]) for key in ("task_creation_accuracy", "all_operations_accuracy",
                                                                 "clarify_accuracy", "json_valid_rate")) + (
    ("unasked_edits", "unasked edits (count)"), ("retries", "second tries under the anchored schema (count)"))


def set_summary(name: str, one: dict[str, Any]) -> str:
    """One line for a case set, the model's own figures and then the client's (what `ftpack bench`
    and `ftpack ship` print)."""
    acc = one["accuracy"]
    line = (f"{name} set ({one['n_cases']} cases): task creation {acc['task_creation_accuracy']}, all operations "
            f"{acc['all_operations_accuracy']}, clarify {acc['clarify_accuracy']}, invented task ids "
            f"{acc['invented_ids']}, JSON valid {acc['json_valid_rate']}")
    client = acc.get("with_client")
    if client:
        line += (f"; as the client acts ({client['retries']} second tries): task creation "
                 f"{client['task_creation_accuracy']}, all operations {client['all_operations_accuracy']}")
    return line


def markdown(report: dict[str, Any]) -> str:
    lat, sets = report["latency"], report["sets"]
    judged = report["spec"].get("judged_set", next(iter(sets)))
    names = list(sets)
    lines = [f"# Benchmark: {report['model']}", "",
             f"Engine: **{report['engine']}**" + (f" {report.get('ollama_version')} at {report.get('host')}"
                                                  if report["engine"] == "ollama" else f" ({report.get('engine_note')})"),
             "Case sets: " + "; ".join(f"{name}: {one['n_cases']} cases from `{one['cases_file']}`"
                                      for name, one in sets.items())
             + f". Structured output: {'on' if report.get('structured_output') else 'off'}; date {report['date']}", "",
             f"## Spec (judged on the {judged} set)", "", "| criterion | value | result |", "| --- | --- | --- |"]
    for v in report["spec"]["criteria"]:
        lines.append(f"| {v['criterion']} | {_fmt(v['value'], 4)} | {'PASS' if v['passed'] else 'FAIL'} |")
    lines += ["", f"Overall: **{'PASS' if report['spec']['passed'] else 'FAIL'}**", "",
              "## Accuracy", "", "| metric | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for key, label in ACCURACY_ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(sets[n]["accuracy"][key], 4) for n in names) + " |")
    for key, label in (("invented_ids", "invented task ids (count)"),
                       ("unasked_edits", "unasked edits: update/complete/delete where none or another task was asked (count)")):
        # a report written before a figure existed shows "–" for it
        lines.append(f"| {label} | " + " | ".join(_fmt(sets[n]["accuracy"].get(key), 0) for n in names) + " |")
    for key, label in CLIENT_ROWS:
        lines.append(f"| {label}, as the client acts | " + " | ".join(
            _fmt(sets[n]["accuracy"].get("with_client", {}).get(key), 4) for n in names) + " |")
    lines.append("| p95 latency with second tries (ms), as the client acts | " + " | ".join(
        _fmt(sets[n]["accuracy"].get("with_client", {}).get("wall_ms", {}).get("p95"), 1) for n in names) + " |")
    for field in sets[judged]["accuracy"]["create_field_accuracy"]:
        lines.append(f"| create: {field} | " + " | ".join(
            _fmt(sets[n]["accuracy"]["create_field_accuracy"][field], 4) for n in names) + " |")
    for action in sets[judged]["accuracy"]["per_action"]:
        cells = []
        for n in names:
            row = sets[n]["accuracy"]["per_action"].get(action)
            cells.append(f"{_fmt(row['accuracy'], 4)} (n={row['n']})" if row else "–")
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    for name in names:
        per_class = sets[name]["accuracy"].get("per_class") or {}
        if per_class:
            lines += ["", f"### {name}: accuracy per class", "", "| class | n | accuracy |", "| --- | --- | --- |"]
            lines += [f"| {cls} | {row['n']} | {_fmt(row['accuracy'], 4)} |" for cls, row in per_class.items()]
    lines += ["", f"## Latency (warm, sequential, {judged} set)", "", "| figure | p50 | p95 | p99 | max | mean |",
              "| --- | --- | --- | --- | --- | --- |"]
    for key, label in (("wall_ms", "wall time (ms)"), ("ttft_ms", "time to first token (ms)"),
                       ("tokens_per_second", "tokens/s (decode)"),
                       ("prompt_tokens", "prompt tokens evaluated (not in the cache)"),
                       ("prompt_tokens_total", "prompt tokens, whole prompt"), ("eval_tokens", "reply tokens")):
        row = lat.get(key)
        if row is None:  # a report written before the figure existed
            continue
        lines.append(f"| {label} | " + " | ".join(_fmt(row[p], 1) for p in ("p50", "p95", "p99", "max", "mean")) + " |")
    for name in names[1:]:
        other = sets[name]["latency"]["wall_ms"]
        lines.append(f"\n{name} set: p50 {_fmt(other['p50'], 1)} ms, p95 {_fmt(other['p95'], 1)} ms.")
    if "floor" in report:
        f = report["floor"]
        lines += ["", "### Against the engine's floor", "",
                  f"Machine: {f['machine']['model']}, {f['machine']['physical_cores']} cores, "
                  f"{' '.join(f['machine']['isa'])}. {f['engine']} on the served GGUF, {f['threads']} threads: "
                  f"{f['prompt_tokens_per_second']} prompt tokens/s, {f['decode_tokens_per_second']} decode tokens/s. "
                  "Each request's floor is its uncached prompt tokens and reply tokens at those speeds.", "",
                  "| | p50 | p95 |", "| --- | --- | --- |",
                  f"| floor (ms) | {_fmt(f['floor_ms']['p50'], 1)} | {_fmt(f['floor_ms']['p95'], 1)} |",
                  f"| served (ms) | {_fmt(f['served_ms']['p50'], 1)} | {_fmt(f['served_ms']['p95'], 1)} |",
                  f"| served / floor | {_fmt(f['served_over_floor']['p50'], 3)} | {_fmt(f['served_over_floor']['p95'], 3)} |",
                  "", f"Verdict: **{f['verdict']}**."]
        if f.get("advice"):
            lines += ["", f"{f['advice']}."]
    cold = report["cold_start"]
    lines += ["", f"Cold start (first request after unloading): {_fmt(cold['wall_ms'], 1)} ms wall, "
              f"{_fmt(cold['load_ms'], 1)} ms loading. Sequential throughput: "
              f"{report['sequential_requests_per_second']} requests/s."]
    if "concurrency" in report:
        conc = report["concurrency"]
        lines.append(f"With {conc['clients']} concurrent clients: {conc['requests_per_second']} requests/s, "
                     f"p50 {_fmt(conc['latency']['wall_ms']['p50'], 1)} ms, p95 {_fmt(conc['latency']['wall_ms']['p95'], 1)} ms.")
    if "training" in report:
        t = report["training"]
        lines += ["", "## Training budget", "", f"{t.get('train_rows')} rows, {t.get('train_tokens')} tokens per epoch, "
                  f"{t.get('epochs')} epochs, {t.get('steps')} steps, {t.get('train_seconds')} s on {t.get('device')} "
                  f"({t.get('backend')})."]
        if t.get("soup"):
            soup = t["soup"]
            lines[-1] += (f" A soup of {soup['members']} runs (seeds {', '.join(map(str, soup['seeds']))}; "
                          f"{', '.join(str(s) for s in soup['member_seconds'])} s): steps and seconds are their sums.")
    if "quantization" in report:
        q = report["quantization"]
        lines += ["", "## Quantization", "", f"The {judged} set on the f16 GGUF vs {q['quantized']}:", "",
                  "| metric | f16 | quantized | delta |", "| --- | --- | --- | --- |"]
        for key in ("task_creation_accuracy", "all_operations_accuracy", "json_valid_rate"):
            lines.append(f"| {key.replace('_', ' ')} | {_fmt(q['f16_' + key], 4)} | {_fmt(q[q['quantized'] + '_' + key], 4)} "
                         f"| {_fmt(q['delta_' + key], 4)} |")
    retried = {name: [r for r in sets[name].get("requests", []) if "retry_reply" in r] for name in names}
    if any(retried.values()):
        lines += ["", "## Second tries (as the client acts)", "",
                  "Replies that were malformed or held a value their request does not (a word, a date phrase, a tag "
                  "or an id), asked again with decoding constrained to what the request holds (ftpack.anchor):", "",
                  "| set | id | first reply | second try | ms |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {r['id']} | `{_cell(r['reply'])}` | `{_cell(r['retry_reply'])}` | {_fmt(r['retry_wall_ms'], 1)} |"
                  for name, rows in retried.items() for r in rows]
    for name in names:
        failures = sets[name]["accuracy"]["failures"]
        shown = 80 if name == judged else 30
        lines += ["", f"## Failures, {name} set ({len(failures)})", ""]
        if failures:
            lines += ["| id | class | request | got | reason |", "| --- | --- | --- | --- | --- |"]
            for f in failures[:shown]:
                lines.append(f"| {f['id']} | {f.get('class') or ''} | {_cell(f['request'])} | `{_cell(f['got'])}` "
                             f"| {_cell(f['reason'])} |")
            if len(failures) > shown:
                lines.append(f"\n… and {len(failures) - shown} more in report.json.")
    return "\n".join(lines) + "\n"


def plot(out: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    walls = [r["wall_ms"] for r in report["requests"]]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.hist(walls, bins=30, color="tab:blue", alpha=0.8)
    for key, style in (("p50", "--"), ("p95", "-")):
        value = report["latency"]["wall_ms"][key]
        ax.axvline(value, color="black", linestyle=style, label=f"{key} {value:.0f} ms")
    limit = next((v["limit"] for v in report["spec"]["criteria"] if v["key"] == "latency_p95_ms_max"), None)
    if limit:
        ax.axvline(limit, color="tab:red", label=f"spec p95 < {limit:.0f} ms")
    ax.set_xlabel("wall time per request (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"Latency: {report['model']} ({report['engine']})", fontsize=9)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out / "latency.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

    import numpy as np

    sets = report["sets"]
    first = next(iter(sets.values()))["accuracy"]
    labels = ["task creation", "all operations", "clarify", "JSON valid", *[f"create: {k}" for k in first["create_field_accuracy"]]]
    rows = np.arange(len(labels))[::-1]
    height = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for i, (name, one) in enumerate(sets.items()):
        acc = one["accuracy"]
        values = [acc["task_creation_accuracy"], acc["all_operations_accuracy"], acc["clarify_accuracy"],
                  acc["json_valid_rate"], *acc["create_field_accuracy"].values()]
        ax.barh(rows - i * height, [v or 0 for v in values], height=height, label=f"{name} ({one['n_cases']})")
    ax.set_yticks(rows - height * (len(sets) - 1) / 2, labels)
    limit = next((v["limit"] for v in report["spec"]["criteria"] if v["key"] == "task_creation_accuracy_min"), None)
    if limit:
        ax.axvline(limit, color="tab:red", label=f"spec task creation > {limit:g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy")
    ax.set_title(f"Accuracy: {report['model']}", fontsize=9)
    fig.tight_layout()
    with atomic_path(out / "accuracy.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
