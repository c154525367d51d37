"""The README's screenshots of the dashboard, on the demo's messages.

    python docs/screenshots/take.py

Runs ``pacer demo`` as a person would (its dashboard left open) and photographs the main
pages with the headless Chromium the tests use.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from selenium.webdriver.common.by import By  # noqa: E402

from tests.dashboard.conftest import chromium, running_demo  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir, running_demo(Path(workdir)) as (url, _, _):
        browser = chromium(Path(workdir) / "profile")
        try:
            browser.set_window_size(1400, 900)
            shots = {
                "overview": "/",
                "search": "/search?q=20261234",
                "dead-letters": "/dead-letters",
            }
            for name, path in shots.items():
                browser.get(url + path)
                browser.save_screenshot(str(HERE / f"{name}.png"))
            browser.get(url + "/search?q=sample1_0001")
            browser.find_element(By.CSS_SELECTOR, "table.rows td.when a").click()
            browser.save_screenshot(str(HERE / "message.png"))
            browser.get(url + "/dead-letters")
            browser.find_element(By.CSS_SELECTOR, "table.rows td.when a").click()
            browser.get(browser.current_url + "&body=1")
            browser.find_element(By.CSS_SELECTOR, "details.error").click()
            browser.save_screenshot(str(HERE / "dead-letter.png"))
        finally:
            browser.quit()
    print(f"screenshots in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
