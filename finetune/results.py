"""results.json and resuming: what makes two fine-tuning runs the same, which runs a
previous invocation already finished, and the per-run checkpoint directory."""
from __future__ import annotations

import json
import os
import shutil
import statistics


def median(runs: list[dict]) -> dict[str, float]:
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def table(task: str, runs: list[dict], first_seed: int) -> str:
    """results.md: each run's metrics and the median, as a Markdown table."""
    med = median(runs)
    keys = list(med)
    lines = [f"| {task} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, r in enumerate(runs):
        lines.append(f"| run {i} (seed {first_seed + i}) | "
                     + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    lines.append("| **median** | " + " | ".join(f"**{med[k]:.2f}**" for k in keys) + " |")
    return "\n".join(lines)


def command(task: str, init_checkpoint, source, opts, data: dict | None = None) -> dict:
    """What makes two fine-tuning runs the same, as results.json holds it (JSON types):
    the task, the starting weights, the options and the data (files, columns, length)."""
    return json.loads(json.dumps({"task": task, "init_checkpoint": init_checkpoint,
                                  "model": source, "data": data or {},
                                  "options": vars(opts)}))


def checkpoint_dir(run_dir: str, cmd: dict) -> str:
    """run_<i>/checkpoints, emptied first if it holds another command's run (a checkpoint
    is resumed only by the command that wrote it; command.json beside it says which)."""
    directory = os.path.join(run_dir, "checkpoints")
    marker = os.path.join(directory, "command.json")
    if os.path.isdir(directory):
        try:
            with open(marker) as f:
                same = json.load(f) == cmd
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            print(f"note: {directory} holds a run of other settings; starting afresh",
                  flush=True)
            shutil.rmtree(directory)
    os.makedirs(directory, exist_ok=True)
    with open(marker, "w") as f:
        json.dump(cmd, f, indent=2)
    return directory


def finished_runs(results_path: str, cmd: dict, first_seed: int, num_runs: int
                  ) -> tuple[list, list]:
    """(metrics, stats) of the runs a results.json of the same command already holds
    (same task, model and options; run i with seed first_seed + i), so a re-run after an
    interrupt trains only what is missing; ([], []) otherwise."""
    if not os.path.isfile(results_path):
        return [], []
    try:
        with open(results_path) as f:
            previous = json.load(f)
    except (OSError, json.JSONDecodeError):
        return [], []

    def settings(options):  # the seed is per run, checked below
        return {k: v for k, v in options.items() if k != "seed"}

    if (any(previous.get(k) != cmd[k] for k in ("task", "init_checkpoint", "model", "data"))
            or settings(previous.get("options", {})) != settings(cmd["options"])):
        return [], []
    runs, stats = [], []
    for i, entry in enumerate(previous.get("runs", [])[:num_runs]):
        if entry.get("seed") != first_seed + i:
            break
        runs.append(entry["metrics"])
        stats.append({k: v for k, v in entry.items() if k != "metrics"})
    return runs, stats
