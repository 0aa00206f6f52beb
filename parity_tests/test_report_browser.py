"""The run report in a real browser: headless Chromium renders report.html with its title, results table and
images, and every image decodes, without a console error.

Collected only where Chromium exists (parity_tests/conftest.py); `make browser-test` runs it, and .ci/run
installs Debian's chromium first. The report marks ``<body data-images-loaded="true|false">`` once its images
have decoded (a tiny inline script in experiments/report.py); ``--dump-dom`` returns the DOM after that ran.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from experiments.report import find_chromium, write_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000"]


def chromium(tmp_path: Path, *args: str) -> tuple[str, str]:
    """Run headless Chromium with a fresh profile; returns (stdout, stderr)."""
    exe = find_chromium()
    assert exe, "Chromium is not installed (apt-get install -y chromium); this file is collected only with it"
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout, proc.stderr


def console_errors(stderr: str) -> list[str]:
    """Lines Chromium logs for the page's console: uncaught exceptions, failed loads."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
            or "Failed to load resource" in line]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from experiments.demo import main

    out = tmp_path_factory.mktemp("demo")
    main(["--epochs", "2", "--out", str(out), "--no-progress"])
    return out


def test_report_renders_title_table_and_images(demo_run, tmp_path):
    dom, stderr = chromium(tmp_path, "--dump-dom", (demo_run / "report.html").as_uri())
    assert "<title>dlfs demo: scratch and torch side by side</title>" in dom
    assert "<h1>dlfs demo: scratch and torch side by side</h1>" in dom
    table = re.search(r'<table id="results">(.*?)</table>', dom, re.S)
    assert table, "no results table in the rendered page"
    assert table.group(1).count("<tr>") == 1 + 2  # header + one row per epoch
    assert "scratch train loss" in table.group(1) and "torch val loss" in table.group(1)
    pngs = sorted(demo_run.glob("*.png"))
    assert len(pngs) == 1
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-images="{len(pngs)}"' in body, body
    assert 'data-images-loaded="true"' in body, body
    assert '"seed": 20190119' in dom and '"torch":' in dom  # the config block, with library versions
    assert console_errors(stderr) == []


def test_screenshot_shows_the_page(demo_run, tmp_path):
    import matplotlib.image as mpimg

    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", (demo_run / "report.html").as_uri())
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1600, 1200)
    rgb = img[..., :3]
    dark = (rgb.mean(axis=2) < 0.5).mean()  # text, table rules and plot lines on a white page
    assert 0.002 < dark < 0.5, f"fraction of dark pixels {dark:.4f}: the page looks blank or broken"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # the embedded plot's colours, not just text


def test_a_broken_image_is_reported(tmp_path):
    """The check can fail: a figure that is not a PNG leaves data-images-loaded="false"."""
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    report = write_report(tmp_path / "report.html", "broken", {"experiment": "x"}, ["a"], [[1.0]], [bad])
    dom, _ = chromium(tmp_path, "--dump-dom", report.as_uri())
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-images="1"' in body and 'data-images-loaded="false"' in body, body
