"""The run report in a real browser: Playwright driving Debian's Chromium, opened from disk."""

import json
import shutil

import pytest

from traingen.pipeline.run import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "RUN"
    recipe = {"version": 1, "source": "builtin:digits@train",
              "steps": [{"step": "fewlabel", "per_class": 3}, {"step": "augment", "input": "fewlabel"}],
              "mix": {"augment": 60}, "output": {"format": "webdataset", "shard_size": 25}}
    run(recipe, out)
    return out


def test_report_is_self_contained(report_run):
    html = (report_run / "report.html").read_text()
    # no fetch from the network or from file://: every image is inline, no script, no link
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert html.count("<img") >= 4 and html.count('src="data:image/png;base64,') == html.count("<img")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_report_in_chromium(report_run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")  # the [dev] extra
    manifest = json.loads((report_run / "data" / "manifest.json").read_text())
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
        page.goto((report_run / "report.html").as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert len(widths) >= 4 and all(w > 0 for w in widths), widths
        counts = {r[0]: r[1] for r in page.eval_on_selector_all(
            "#counts tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")}
        assert counts == {"fewlabel": "30", "augment": "60", "total": str(manifest["total"])}
        man = page.eval_on_selector_all("#manifest tbody td", "cells => cells.map(c => c.textContent)")
        assert man == ["webdataset", "10", str(len(manifest["shards"])), str(manifest["total"])]
        shard_counts = page.eval_on_selector_all("#shards tbody tr td:nth-child(4)", "c => c.map(x => x.textContent)")
        assert shard_counts == [str(s["count"]) for s in manifest["shards"]]
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
