"""A self-contained HTML run report: config, results table and plots (PNG embedded as data URIs, no network).

The page loads nothing: styles, images and its one small script are inline, so it opens anywhere, offline.
Each plot carries a caption that says what it shows; ``highlights`` (the demo's test accuracy and network, say)
are listed above the table. The plot helpers here keep short curves visible: ``curve_style`` puts markers on a
curve of few points (a one-epoch run's loss is a single point, invisible as a bare line) and ``loss_scale`` keeps
a linear axis unless the values span more than a decade over enough points.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlfs.io import atomic_write

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:85%}
dl#highlights dt{font-weight:bold;margin-top:.4em}dl#highlights dd{margin-left:1.5em}"""

# a curve of at most this many points gets markers: below it a line alone hides single points and short runs
MARKER_POINTS = 30
Figure = Path | str | tuple[Path | str, str]  # a PNG, or (PNG, caption)

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


def curve_style(n_points: int) -> dict[str, Any]:
    """``plot`` keywords for a curve of ``n_points`` points: markers when there are few (``MARKER_POINTS``)."""
    return {"marker": "o", "markersize": 4} if n_points <= MARKER_POINTS else {}


def loss_scale(ax: Any, *series: Sequence[float]) -> str:
    """Set ``ax``'s y axis to log only when the positive values of ``series`` span more than a decade over at
    least 3 points each (a log axis of one or two points shows nothing of their shape); returns the scale."""
    values = [float(v) for s in series for v in s]
    positive = [v for v in values if v > 0]
    scale = "linear"
    if series and min(len(s) for s in series) >= 3 and len(positive) == len(values) \
            and max(positive) > 10 * min(positive):
        scale = "log"
    ax.set_yscale(scale)
    return scale


def describe_network(net: Any) -> str:
    """One line per layer of ``net``: the layer, its activation, its parameters' shapes (after training)."""
    state = net.state_dict()
    lines = []
    for i, layer in enumerate(net.layers):
        act = getattr(layer, "activation", None)
        params = ", ".join(f"{k.split('.', 2)[2]} {tuple(v.shape)}" for k, v in state.items()
                           if k.startswith(f"layers.{i}."))
        lines.append(f"{i}: {layer!r}" + (f", {type(act).__name__}" if act is not None else "")
                     + (f" ({params})" if params else ""))
    lines.append(f"loss: {net.loss!r}")
    return "\n".join(lines)


def _figure(f: Figure) -> tuple[Path, str]:
    if isinstance(f, tuple):
        return Path(f[0]), f[1]
    return Path(f), Path(f).stem.replace("_", " ")


def write_report(path: str | Path, title: str, config: dict[str, Any], headers: Sequence[str],
                 rows: Sequence[Sequence[Any]], figures: Sequence[Figure], notes: str = "",
                 highlights: Mapping[str, str] | None = None) -> Path:
    """Write ``report.html``: the title, the highlights, the results table, every figure inline with its caption
    (``figures``: PNG paths, or (path, caption) pairs), and the config."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    imgs = []
    for f in figures:
        png, caption = _figure(f)
        data = base64.b64encode(png.read_bytes()).decode()
        imgs.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    facts_html = "".join(f"<dt>{html.escape(k)}</dt><dd><pre>{html.escape(v)}</pre></dd>" if "\n" in v
                         else f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                         for k, v in (highlights or {}).items())
    facts = [(k, config.get(k)) for k in ("experiment", "backends", "seed", "finished") if config.get(k) is not None]
    summary = " &middot; ".join(f"{html.escape(k)}: <b>{_cell(', '.join(v) if isinstance(v, list) else v)}</b>"
                                for k, v in facts)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
{f'<p id="summary">{summary}</p>' if summary else ""}
{f'<dl id="highlights">{facts_html}</dl>' if facts_html else ""}
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
