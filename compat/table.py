"""The plain-text table a consumer run prints: fixture x strategy -> verdict."""
from __future__ import annotations

from compat import summary

SYMBOLS = {"pass": "ok", "mismatch": "WRONG", "error": "err", "crash": "CRASH",
           "timeout": "TIME", "not_applicable": "-"}


def render(document: dict) -> str:
    strategies = document["strategies"] or []
    order = summary.strategy_order(strategies)
    grouped = summary.group_by_fixture(document["attempts"])
    used = [name for name in order if any(name in row for row in grouped.values())]
    label_width = max([len(f"{p}/{f}") for p, f in grouped] + [7])
    widths = [max(len(name), 5) for name in used]
    header = "fixture".ljust(label_width) + "  " + "  ".join(n.ljust(w) for n, w in zip(used, widths))
    lines = [f"consumer {document['run']['consumer']} "
             f"(keras {(document['consumer'].get('runtime') or {}).get('keras')}, "
             f"tensorflow {(document['consumer'].get('runtime') or {}).get('tensorflow')})",
             header + "  recommended", "-" * (len(header) + 13)]
    for (producer, fixture), row in grouped.items():
        cells = [SYMBOLS.get(row[name]["verdict"], "?") if name in row else "" for name in used]
        best = summary.best_strategy(row, order) or (
            "(not tried)" if summary.category(row, strategies) == summary.NOT_TRIED else "(none works)")
        if summary.has_silent_corruption(row):
            best += "  [!] some strategy loads wrong numbers"
        lines.append(f"{producer}/{fixture}".ljust(label_width) + "  "
                     + "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + best)
    counts: dict[str, int] = {}
    for attempt in document["attempts"]:
        counts[attempt["verdict"]] = counts.get(attempt["verdict"], 0) + 1
    lines.append("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)
