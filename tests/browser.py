"""A real browser for the tests: the system's Chromium driven by Playwright.

Playwright comes from PyPI, the browser from the system (Debian's
``chromium`` package): nothing is downloaded. Pages are served on
127.0.0.1 by the tests themselves, and every request the browser makes is
recorded, so that a test can assert that a page reached no other host.
"""

import contextlib
import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.helpers import skip_or_fail

LOOPBACK = "127.0.0.1"
#: Flags for a headless Chromium on a machine with no display and no
#: internet: no first-run pages, no background calls to Google's hosts.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
]


def find_chromium():
    """Path of the Chromium to use: ``$CHROMIUM`` or ``chromium`` on PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def require_browser():
    """Return Chromium's path, or skip (fail under ``CI=true``) with why.

    The browser tests need Debian's ``chromium`` package and the
    ``playwright`` Python package. Where one is missing the test is skipped
    with the reason printed; CI installs both, so there a missing one fails
    the test instead of passing as skipped.
    """
    reason = None
    chromium = find_chromium()
    if chromium is None:
        reason = (
            "Chromium is not installed (Debian: apt-get install chromium; "
            "or set CHROMIUM to a Chromium binary)"
        )
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None:
        return chromium
    skip_or_fail(reason)


@contextlib.contextmanager
def launch_chromium(chromium):
    """A headless Chromium browser, closed on exit."""
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        # Chromium refuses to run as root with its own sandbox.
        args.append("--no-sandbox")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=args
        )
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_folder(folder):
    """Serve ``folder`` over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# Text nodes outside code and typeset math that still hold TeX delimiters:
# math that was never typeset (by MathJax, or as MathML).
RAW_MATH_JS = """() => {
  const skip =
      'pre, code, script, style, textarea, math, mjx-container, .MathJax';
  const walker = document.createTreeWalker(
      document.querySelector('main') || document.body,
      NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    if (/\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/.test(n.textContent))
      raw.push(n.textContent.trim().slice(0, 80));
  }
  return raw;
}"""

IMAGES_JS = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => img.getAttribute('src'))"""


@dataclass
class Traffic:
    """What a page asked for while it loaded."""

    foreign: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    script_errors: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)

    def watch(self, page):
        """Record the requests, responses and errors of ``page``."""
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("pageerror", lambda e: self.script_errors.append(str(e)))
        page.on("console", self._console)
        return self

    def _console(self, message):
        if message.type == "error":
            self.console_errors.append(message.text)

    def _request(self, request):
        url = urlsplit(request.url)
        if url.scheme in ("data", "blob", "about"):
            return
        if url.hostname != LOOPBACK:
            self.foreign.append(request.url)

    def _failed(self, request):
        self.failed.append(f"{request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")


@contextlib.contextmanager
def offline_page(browser, base, name, **context_options):
    """Open ``base + name`` with every request to another host refused.

    Yields ``(page, traffic)``; requests to other hosts are recorded in
    ``traffic`` and never sent.
    """
    context = browser.new_context(**context_options)
    context.route(lambda url: not url.startswith(base), lambda r: r.abort())
    page = context.new_page()
    traffic = Traffic().watch(page)
    try:
        page.goto(base + name, wait_until="load")
        yield page, traffic
    finally:
        context.close()


def page_problems(page, traffic):
    """What every page must be free of, by kind: what was found of each.

    Waits until the page has made no request for a moment first.
    """
    page.wait_for_load_state("networkidle")
    return {
        "requests to other hosts": traffic.foreign,
        "error responses": traffic.errors,
        "script errors": traffic.script_errors,
        "console errors": traffic.console_errors,
        "images not loaded": page.evaluate(IMAGES_JS),
        "raw TeX in the text": page.evaluate(RAW_MATH_JS),
    }
