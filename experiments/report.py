"""A self-contained HTML run report: config, results table and plots (PNG embedded as data URIs, no network).

The page loads nothing: styles, images and its one small script are inline, so it opens anywhere, offline.
"""

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

# Marks <body data-images-loaded="true|false" data-images="N"> once every image has decoded, so a headless browser
# test (parity_tests/test_report_browser.py) can tell a rendered report from a broken one without any tooling.
_SCRIPT = """window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-images-loaded", ok ? "true" : "false");
});"""


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
    facts = [(k, config.get(k)) for k in ("experiment", "backends", "seed", "finished") if config.get(k) is not None]
    summary = " &middot; ".join(f"{html.escape(k)}: <b>{_cell(', '.join(v) if isinstance(v, list) else v)}</b>"
                                for k, v in facts)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
{f'<p id="summary">{summary}</p>' if summary else ""}
{f"<p>{html.escape(notes)}</p>" if notes else ""}
<h2>Results</h2><table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Plots</h2><div id="plots">{"".join(imgs) or "<p>none</p>"}</div>
<h2>Configuration</h2><pre id="config">{html.escape(json.dumps(config, indent=2, default=str))}</pre>
<script>{_SCRIPT}</script>
</body></html>
"""
    return atomic_write(path, lambda fh: fh.write(doc.encode()))


def find_chromium() -> str | None:
    """The headless browser the report test uses: ``$DLFS_CHROMIUM``, else Debian's ``chromium`` (or a
    ``chromium-browser``/``google-chrome`` on the PATH); None when there is none."""
    import os
    import shutil

    candidates = [os.environ.get("DLFS_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]
    return next((found for c in candidates if c and (found := shutil.which(c))), None)
