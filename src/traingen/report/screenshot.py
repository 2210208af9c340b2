"""Screenshot of a report in a real browser (Playwright driving a local Chromium; no browser download).

Used for the docs figure (``docs/report/report-quickstart.png``) and by the browser test's approach:
Playwright's ``chromium.launch(executable_path=...)`` with Debian's ``/usr/bin/chromium``.

    python -m traingen.report.screenshot quickstart-out/run/report.html docs/report/report-quickstart.png

Example:
    >>> check = screenshot("RUN/report.html", "shot.png")
    >>> check.images, check.broken_images, check.console_errors
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ConfigError


@dataclass
class PageCheck:
    """What the browser saw: image count, images that failed to load, console errors."""

    path: Path
    images: int
    broken_images: int
    console_errors: list[str] = field(default_factory=list)


def find_chromium() -> str:
    """Debian's chromium (or ``TRAINGEN_CHROMIUM``); ConfigError naming the install command when absent."""
    exe = os.environ.get("TRAINGEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise ConfigError("no chromium found: sudo apt-get install -y chromium (or set TRAINGEN_CHROMIUM)",
                          field="chromium")
    return exe


def screenshot(html: str | os.PathLike, png: str | os.PathLike, *, width: int = 1100, height: int = 1600,
               full_page: bool = False) -> PageCheck:
    """Open ``html`` from disk in headless Chromium, check its images, save a PNG of the viewport."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise ConfigError("screenshots need playwright: pip install playwright", field="playwright") from e
    html, png = Path(html).resolve(), Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        page.screenshot(path=str(png), full_page=full_page)
        browser.close()
    return PageCheck(png, len(widths), sum(w == 0 for w in widths), errors)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m traingen.report.screenshot")
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args()
    print(screenshot(args.html, args.png, width=args.width, height=args.height))


if __name__ == "__main__":
    main()
