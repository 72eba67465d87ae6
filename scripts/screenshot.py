"""Screenshot the running demo's page in headless Chromium (for README.md and reviews).

python scripts/screenshot.py [--url http://127.0.0.1:5173/] [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5173/")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--settle-ms", type=int, default=3000, help="let live play run first")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the view")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.url)
        page.get_by_test_id("agent").wait_for(timeout=30_000)
        page.wait_for_timeout(args.settle_ms)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=args.full_page)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
