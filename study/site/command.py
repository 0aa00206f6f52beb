"""`dlfs site`: build the study site, and serve it on 127.0.0.1.

    dlfs site --out site                 build into ./site (a new or empty directory)
    dlfs site --out site --overwrite     replace the site built there before
    dlfs site --only lstm dense          only these concept pages
    dlfs site --serve                    build into a temporary directory and serve it (Ctrl-C stops)
    dlfs site --run-parity --out site    run every parity check first and show those numbers
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from study import results

DESCRIPTION = ("Build the study site: an index of every concept by chapter with its parity status and a "
               "search box, one page per concept (the book's equations as MathML, the book form beside the "
               "torch form method by method, the fast form one click away, the weight layout, the measured "
               "errors with their tolerances, the tests, the docs, where the book's code went wrong), a page "
               "per experiment with its latest run from runs/, the docs and the highlighted sources. Every "
               "asset is in the output directory: it works offline from file://. The site is built in a "
               "temporary directory and moved into place when complete.")


def add_parser(sub: Any) -> None:
    s = sub.add_parser("site", help="build the study site (static HTML, works offline); --serve serves it",
                       description=DESCRIPTION)
    s.add_argument("--out", default=None,
                   help="output directory, new or empty (default with --serve: a temporary one; else runs/site)")
    s.add_argument("--overwrite", action="store_true", help="replace a site built into --out before")
    s.add_argument("--only", nargs="+", metavar="CONCEPT", default=None,
                   help="only these concepts' pages (names from `dlfs concepts`)")
    s.add_argument("--results", default=None,
                   help=f"parity results to show (default: the last `dlfs parity`, {results.cache_path()}, "
                   f"else the committed record)")
    s.add_argument("--run-parity", action="store_true",
                   help="run the parity checks of the chosen concepts now and show those numbers")
    s.add_argument("--runs", default=None, help="where experiment runs are (default: runs/ of the checkout)")
    s.add_argument("--serve", action="store_true", help="serve the site on 127.0.0.1 after building it")
    s.add_argument("--port", type=int, default=8000, help="port for --serve (0: any free port)")
    s.add_argument("--serve-seconds", type=float, default=None,
                   help="with --serve: stop after this many seconds (default: until Ctrl-C)")
    s.set_defaults(func=cmd_site)


def _run_parity(only: list[str] | None) -> dict[str, Any]:
    from study.concepts import keys
    from study.runner import run
    from study.spec import DTYPES

    chosen = only or keys()
    out: dict[str, Any] = {}
    for key in chosen:
        for dtype in DTYPES:
            out.setdefault(key, {})[dtype] = run(key, dtype).summary()
        print(f"parity {key}: {'pass' if all(v['passed'] for v in out[key].values()) else 'FAIL'}",
              file=sys.stderr)
    return out


def cmd_site(args: argparse.Namespace) -> int:
    from study.concepts import ROOT
    from study.site.build import _chosen, build_site, check_out

    _chosen(args.only)  # an unknown concept fails before anything runs
    temporary = args.out is None and args.serve
    default = ROOT / "runs" / "site"
    out = Path(tempfile.mkdtemp(prefix="dlfs-site-")) / "site" if temporary else Path(args.out or default)
    check_out(out, args.overwrite)
    data = _run_parity(args.only) if args.run_parity else None
    try:
        report = build_site(out, only=args.only, overwrite=args.overwrite,
                            runs=Path(args.runs) if args.runs else None,
                            parity=Path(args.results) if args.results else None, results=data)
        print(f"built {report.pages} pages ({report.concept_pages} concepts, {report.experiment_pages} "
              f"experiments) into {report.out} in {report.seconds:.1f} s; parity from {report.parity_source}")
        print(f"open {(report.out / 'index.html').resolve().as_uri()}")
        if args.serve:
            serve(report.out, args.port, args.serve_seconds)
    finally:
        if temporary:
            shutil.rmtree(out.parent, ignore_errors=True)
    return 0


def make_server(directory: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``directory`` bound to 127.0.0.1:``port`` (0: a free port); not yet serving."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(directory: Path, port: int = 8000, seconds: float | None = None) -> None:
    """Serve ``directory`` on 127.0.0.1:``port`` until Ctrl-C, or for ``seconds``."""
    with make_server(directory, port) as httpd:
        host, bound = httpd.server_address[:2]
        print(f"serving {directory} at http://{host}:{bound}/index.html (Ctrl-C stops)", flush=True)
        if seconds is not None:
            timer = threading.Timer(seconds, httpd.shutdown)
            timer.daemon = True
            timer.start()
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass
