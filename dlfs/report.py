"""A self-contained HTML run report: config, results table and plots (PNG embedded as data URIs, no network)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlfs.io import atomic_write

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:85%}"""


def _cell(v: Any) -> str:
    return html.escape(f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v)))


def write_report(path: str | Path, title: str, config: dict[str, Any], headers: Sequence[str],
                 rows: Sequence[Sequence[Any]], figures: Sequence[Path], notes: str = "") -> Path:
    """Write ``report.html``: the title, the results table, every figure inline, and the config."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    imgs = []
    for f in figures:
        data = base64.b64encode(Path(f).read_bytes()).decode()
        imgs.append(f'<figure><img alt="{html.escape(Path(f).stem)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(Path(f).name)}</figcaption></figure>")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
{f"<p>{html.escape(notes)}</p>" if notes else ""}
<h2>Results</h2><table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Plots</h2>{"".join(imgs) or "<p>none</p>"}
<h2>Configuration</h2><pre id="config">{html.escape(json.dumps(config, indent=2, default=str))}</pre>
</body></html>
"""
    return atomic_write(path, lambda fh: fh.write(doc.encode()))
