"""The rendered status page in a real browser (Debian Chromium, headless), served over HTTP
from 127.0.0.1: it renders (screenshots in test-artifacts/statuspage/), hostile text stays
text with JavaScript on, and everything a reader needs is there with JavaScript off.

Each test starts its few Chromium runs in parallel and shares nothing with the others, so
pytest-xdist may spread the tests over its workers freely."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tocsin.domain.statuspage import Impact
from tocsin.services.statuspage_render import render_page

from tests.helpers import REPO
from tests.unit.test_statuspage_render import (
    CONFIG,
    MAJOR,
    NOW,
    PARTIAL,
    PUBLIC,
    make,
    scenario,
    z,
)

CHROMIUM = Path(os.environ.get("TOCSIN_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "statuspage"
PWN_NAME = "Checkout <script>document.documentElement.setAttribute('data-pwned','1')</script>"
PWN_BODY = (
    "Broken images <img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"
    " and more."
)
#: a page beside the status page: proves that scripts run with JavaScript on, and not off
CONTROL = "<!doctype html><html><body><script>document.documentElement.dataset.js='on'</script>"
#: a profile that blocks JavaScript on every site (chrome://settings/content/javascript)
NO_JAVASCRIPT = '{"profile": {"default_content_setting_values": {"javascript": 2}}}'
#: screenshot -> its size (width, height)
SCREENSHOTS = {
    "index-desktop.png": (1280, 2000),
    "index-mobile.png": (390, 1600),
    "incident.png": (1280, 1200),
}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: install Debian's chromium (`make chromium`, run by `make test`)",
)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test output."""


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """`root` over HTTP on 127.0.0.1 (as a CDN would serve the files); its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The public page (the unit tests' scenario plus an incident with hostile text), served
    over HTTP as a CDN would serve it."""
    root = tmp_path_factory.mktemp("status")
    hostile = make(
        "inc-pwn",
        PWN_NAME,
        [
            ("investigating", z(2024, 3, 10, 11, 30), PWN_BODY, {"Search": PARTIAL}),
            ("identified", z(2024, 3, 10, 11, 45), "Found it.", {"Search": MAJOR}),
        ],
        impact=Impact.CRITICAL,
    )
    files = render_page(CONFIG, PUBLIC, [*scenario(), hostile], NOW, "http://127.0.0.1/status")
    for file in files.values():
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.body)
    (root / "control.html").write_text(CONTROL)
    with serve_directory(root) as url:
        yield url


def chromium(url: str, *, javascript: bool = True, screenshot: str = "") -> str:
    """Load `url` in headless Chromium (fresh profile, no background traffic); its DOM after
    load, and a screenshot (one of SCREENSHOTS) into ARTIFACTS when named.

    JavaScript is switched off the way a reader does it, with the profile's content setting:
    `--blink-settings=scriptEnabled=false` would also stop `--dump-dom` (it reads the DOM
    with a script)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        if not javascript:
            (Path(profile) / "Default").mkdir()
            (Path(profile) / "Default" / "Preferences").write_text(NO_JAVASCRIPT)
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--dump-dom",
        ]
        if screenshot:
            width, height = SCREENSHOTS[screenshot]
            command += [f"--screenshot={ARTIFACTS / screenshot}", f"--window-size={width},{height}"]
        done = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=90, check=False
        )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    assert done.stdout, f"chromium dumped no DOM: {done.stderr[-2000:]}"
    return done.stdout


def in_parallel(site: str, runs: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """name -> (path, chromium options): the DOM of each run, the runs in parallel."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        outputs = {
            name: pool.submit(chromium, f"{site}/{path}", **options)
            for name, (path, options) in runs.items()
        }
        return {name: future.result() for name, future in outputs.items()}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def html_attributes(dom: str) -> str:
    found = re.search(r"<html\b[^>]*>", dom)
    assert found, "no <html> element in the DOM"
    return found.group(0)


def test_screenshots(site: str) -> None:
    """index.html on a desktop and a phone, and an incident's page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in SCREENSHOTS:
        (ARTIFACTS / name).unlink(missing_ok=True)  # a stale one must not pass for a new one
    in_parallel(
        site,
        {
            "desktop": ("index.html", {"screenshot": "index-desktop.png"}),
            "phone": ("index.html", {"screenshot": "index-mobile.png"}),
            "incident": ("incidents/inc-pwn.html", {"screenshot": "incident.png"}),
        },
    )
    for name, size in SCREENSHOTS.items():
        path = ARTIFACTS / name
        assert path.exists(), f"no screenshot at {path}"
        assert png_size(path) == size, name
        assert path.stat().st_size > 20_000, f"{name} looks blank"


def test_hostile_text_stays_text_with_javascript_on(site: str) -> None:
    doms = in_parallel(
        site,
        {
            "index": ("index.html", {}),
            "incident": ("incidents/inc-pwn.html", {}),
            "control": ("control.html", {}),
        },
    )
    assert 'data-js="on"' in html_attributes(doms["control"]), "JavaScript does not run"
    for name in ["index", "incident"]:
        dom = doms[name]
        assert "data-pwned" not in html_attributes(dom), name
        assert "<img" not in dom and "<script" not in dom, name
        # the text is there, as text
        assert "Checkout &lt;script&gt;document.documentElement.setAttribute(" in dom, name
        assert (
            "&lt;img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\"&gt;"
            in dom
        ), name


def test_the_page_reads_without_javascript(site: str) -> None:
    doms = in_parallel(
        site,
        {
            "index": ("index.html", {"javascript": False}),
            "control": ("control.html", {"javascript": False}),
        },
    )
    assert "data-js" not in html_attributes(doms["control"]), "JavaScript still runs"
    text = " ".join(re.sub(r"<[^>]+>", " ", doms["index"]).split())
    assert "Partial System Outage" in text
    for component in ["Shop", "Checkout", "Payments API", "Search", "Webhooks"]:
        assert component in text
    for status in ["Major outage", "Partial outage", "Under maintenance"]:
        assert status in text
    assert "Checkout errors" in text and "A bad deploy. Rolling back." in text
    assert "Network maintenance" in text and "Search index rebuild" in text
    assert "Payments failing" in text  # history
    assert "uptime" in text and "over the last 90 days" in text
