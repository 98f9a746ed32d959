"""Write the results: ``latest.json``, a Markdown table and a PNG chart, systems side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABELS = {
    "raw": "raw ceiling (aiokafka + orjson)",
    "streamapp_1w": "streamapp, 1 worker",
    "streamapp_2w": "streamapp, 2 workers",
    "faust_plain": "plain Faust app",
    "quixstreams": "Quix Streams",
}


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    """The results as a Markdown table plus streamapp's latency and rebuild figures."""
    lines = [
        f"Workload: {meta['events']:,} events ({meta['partitions']} partitions, "
        f"{meta['mean_event_bytes']:.0f} B/event mean), {meta['cpus']} CPUs, broker on the same "
        f"machine; run {meta['started']}.",
        "",
        "| system | events/s | CPU µs/event | peak RSS MB (per process) |",
        "|---|---:|---:|---:|",
    ]
    for key, row in results.items():
        lines.append(
            f"| {LABELS.get(key, key)} | {_fmt(row.get('events_per_s'))} "
            f"| {_fmt(row['cpu_s_per_event'] * 1e6 if row.get('cpu_s_per_event') else None, 1)} "
            f"| {_fmt(row.get('peak_rss_mb'))} |"
        )
    one = results.get("streamapp_1w", {})
    if one.get("p50_ms") is not None:
        lines += [
            "",
            f"streamapp, 1 worker, at a fixed offered rate of {_fmt(one.get('offered_rate'))} "
            "events/s (half its maximum): ingest → effect readable over `GET /counters` "
            f"p50 {_fmt(one['p50_ms'], 1)} ms, p95 {_fmt(one['p95_ms'], 1)} ms, "
            f"p99 {_fmt(one['p99_ms'], 1)} ms ({one.get('probes')} probes, "
            f"{one.get('probes_unanswered_in_30s', 0)} not answered within 30 s, counted as 30 s).",
        ]
    if one.get("sink_p50_ms") is not None:
        lines.append(
            f"Window → sink: a 1-minute window reached `aggregates.events_per_minute` "
            f"p50 {_fmt(one['sink_p50_ms'], 0)} ms / p99 {_fmt(one['sink_p99_ms'], 0)} ms after "
            "its end + grace (the earliest it may close)."
        )
    if one.get("rebuild_s") is not None:
        lines.append(
            f"Rebuild: a fresh worker restored {one.get('rebuild_keys', 0):,} profile keys from "
            f"the changelog and answered them over HTTP in {_fmt(one['rebuild_s'], 1)} s."
        )
    return "\n".join(lines) + "\n"


def chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Bar charts of events/s, CPU per event and peak RSS, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results)
    names = [LABELS.get(k, k).replace(" (", "\n(").replace(", ", ",\n") for k in keys]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels = [
        ("events/s, log scale", [results[k].get("events_per_s") or 0 for k in keys]),
        (
            "CPU µs per event (lower is better)",
            [(results[k].get("cpu_s_per_event") or 0) * 1e6 for k in keys],
        ),
        ("peak RSS per process, MB", [results[k].get("peak_rss_mb") or 0 for k in keys]),
    ]
    colors = ["#888888", "#1f77b4", "#5fa2dd", "#ff7f0e", "#2ca02c"]
    axes[0].set_yscale("log")  # the raw ceiling is orders of magnitude above the rest
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.bar(names, values, color=colors[: len(keys)])
        ax.set_title(title)
        ax.tick_params(axis="x", labelsize=7)
        for i, v in enumerate(values):
            ax.annotate(f"{v:,.0f}", (i, v), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(results: dict[str, dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> str:
    """Write latest.json, latest.md and latest.png; return the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clean = {
        k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in results.items()
    }
    (out_dir / "latest.json").write_text(json.dumps(clean, indent=2) + "\n")
    (out_dir / "latest-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    md = markdown(clean, meta)
    (out_dir / "latest.md").write_text(md)
    chart(clean, out_dir / "latest.png")
    return md


if __name__ == "__main__":
    # Re-render latest.md and latest.png from latest.json and latest-meta.json.
    out = Path(__file__).resolve().parent / "results"
    data = json.loads((out / "latest.json").read_text())
    print(write(data, json.loads((out / "latest-meta.json").read_text()), out))
