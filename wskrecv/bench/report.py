"""Benchmark results for people: aligned plain-text tables (no control codes)."""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.output.format import nbytes, plural, si


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _rate(value: Optional[float]) -> str:
    return "-" if value is None else si(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
    return out


def render(doc: dict[str, Any], comparison: Optional[dict[str, Any]] = None) -> str:
    """The whole human report of a `bench` document (and of a comparison, when given)."""
    p = doc["params"]
    lines: list[str] = []
    if doc["kind"] == "drain":
        fill = doc["fill"]
        lines.append(
            f"wskrecv bench: drain {p['count']} queued datagrams of {plural(p['size'], 'byte')}, "
            f"{plural(p['rounds'], 'round')}, loopback"
        )
        lines.append(
            f"fill: {p.get('fill_method', '?')}, {fill['truesize']} B of queue per datagram, "
            f"receive buffer asked {nbytes(fill['rcvbuf_requested'])}, "
            f"fill drops {fill['drops']}, not queued {fill['lost']}"
        )
        lines.append("")
        rows = []
        for m in doc["modes"]:
            r = m["rate"]
            rows.append([m["label"], _rate(r["median"]), f"{_rate(r['min'])} - {_rate(r['max'])}",
                         _ratio(m["vs_python"]), _ratio(m["vs_c"])])
        lines += _table(["mode", "median dg/s", "min - max dg/s", "vs python", "vs C"], rows)
    else:
        lines.append(
            f"wskrecv bench --live: {p['count']} datagrams of {plural(p['size'], 'byte')} per run, "
            f"{plural(p['rounds'], 'round')}, sender {p.get('sender', '?')} "
            f"at {_rate(doc['sender']['rate']['median'])} dg/s (median)"
        )
        lines.append("")
        rows = []
        for m in doc["modes"]:
            rows.append([m["label"], str(m["sent"]), str(m["received"]), str(m["lost"]),
                         str(m["kernel_drops"]), _rate(m["rate"]["median"])])
        lines += _table(["mode", "sent", "received", "lost", "kernel drops", "median dg/s"], rows)
    violations = [m for m in doc["modes"] if m.get("violations")]
    for m in violations:
        lines.append(f"{m['label']}: {m['violations']} API violations")
    if comparison is not None:
        lines.append("")
        lines.append("compared with the saved run:")
        rows = []
        for r in comparison["rows"]:
            change = "-" if r["change"] is None else f"{r['change'] * 100:+.1f}%"
            row = [r["label"], _rate(r["before"]), _rate(r["after"]), change,
                   f"{_ratio(r['vs_python_before'])} -> {_ratio(r['vs_python_after'])}"]
            if "lost_before" in r:
                row.append(f"{r['lost_before']} -> {r['lost_after']}")
            rows.append(row)
        header = ["mode", "then dg/s", "now dg/s", "change", "vs python then -> now"]
        if rows and len(rows[0]) > len(header):
            header.append("lost then -> now")
        lines += _table(header, rows)
        lines += [f"note: {n}" for n in comparison["notes"]]
    lines += [f"note: {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"
