"""Refresh the README's screenshots: start a fresh app, walk the journey in headless Chromium, save one picture per tab.

    python docs/screenshots.py                 # writes docs/screenshots/*.png
    python docs/screenshots.py --out /tmp/shots --steps 40

Run it after a change to the app's look (other branches merged, a tab redesigned). It uses Debian's chromium
(``apt-get install chromium``), never ``playwright install``, and the bundled model, so it works offline; the
training is kept short (``--steps``) so the whole walk takes a few minutes on a laptop CPU.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
DEFAULT_OUT = Path(__file__).resolve().parent / "screenshots"
LONG_MS = 600_000  # a step of the journey on a busy 2-core machine (training included) stays well under this
EXAMPLE_TEXT = "My parcel has still not arrived, where is it?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(data_dir: Path):
    """A fresh app (its own data folder, so no earlier run shows up) on a free local port; returns (app, url)."""
    from bertstudio.ui.app import build_app, launch_options

    demo = build_app(data_dir)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(data_dir))
    return demo, f"http://127.0.0.1:{port}/"


def shoot(page, out: Path, name: str) -> None:
    page.mouse.move(0, 0)  # no hover highlight in the picture
    page.wait_for_timeout(800)  # charts finish their transition
    page.screenshot(path=str(out / name), full_page=True)
    print(f"wrote {out / name}")


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Enter")
    box.press("Tab")


def walk(url: str, out: Path, steps: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        page.goto(url)
        expect(page.get_by_role("button", name="Use the sample data")).to_be_visible(timeout=LONG_MS)

        page.get_by_role("button", name="Use the sample data").click()
        expect(page.locator("#data-report")).to_contain_text("Your data looks good", timeout=LONG_MS)
        expect(page.locator("#length-histogram .js-plotly-plot")).to_contain_text("Text lengths", timeout=LONG_MS)
        shoot(page, out, "1-data.png")

        page.get_by_role("tab", name="2. Model").click()
        page.get_by_text("Advanced settings").click()
        set_number(page, "setting-max_steps", steps)
        expect(page.locator("#plan")).to_contain_text(f"at most {steps} steps", timeout=LONG_MS)
        shoot(page, out, "2-model.png")

        page.get_by_role("tab", name="3. Train").click()
        page.get_by_role("button", name="Start training").click()
        expect(page.locator("#train-status")).to_contain_text(f"of {steps}", timeout=LONG_MS)
        expect(page.locator("#loss-chart .js-plotly-plot")).to_contain_text("smoothed", timeout=LONG_MS)
        page.wait_for_timeout(3_000)  # a few more steps on the charts
        shoot(page, out, "3-train-running.png")
        expect(page.locator("#train-outcome")).to_contain_text("Done", timeout=LONG_MS)
        shoot(page, out, "3-train-done.png")

        page.get_by_role("button", name="See the results in the Evaluate tab").click()
        expect(page.locator("#eval-headline")).to_contain_text("Macro-F1", timeout=LONG_MS)
        page.locator("#confusion-table [data-testid='cell-1-2']").click()  # a cell of the coloured matrix
        expect(page.locator("#browser-caption")).to_contain_text("predicted", timeout=LONG_MS)
        page.evaluate("window.scrollTo(0, 0)")
        shoot(page, out, "4-evaluate.png")

        page.get_by_role("tab", name="5. Export").click()
        expect(page.locator("#export-run")).to_contain_text("Zip size", timeout=LONG_MS)
        shoot(page, out, "5-export.png")

        page.get_by_role("tab", name="6. Predict").click()
        expect(page.locator("#predict-model")).to_contain_text("classes", timeout=LONG_MS)
        page.locator("#predict-text textarea").fill(EXAMPLE_TEXT)
        page.locator("#predict-button").click()
        expect(page.locator("#predict-chart .js-plotly-plot")).to_contain_text("How sure", timeout=LONG_MS)
        shoot(page, out, "6-predict.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the pictures (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=60, help="training steps of the run shown (default: 60)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bertstudio-shots-") as data_dir:
        demo, url = start_app(Path(data_dir))
        try:
            walk(url, args.out, args.steps)
        finally:
            demo.close()


if __name__ == "__main__":
    main()
