"""`pacer demo` run from a terminal leaves the dashboard open on the demo's messages, and
Ctrl-C ends it."""

from __future__ import annotations

import signal

import requests

from tests.dashboard.conftest import running_demo


def test_the_demo_leaves_its_dashboard_open_until_ctrl_c(tmp_path):
    with running_demo(tmp_path) as (url, demo, out):
        assert "[6/6]" in out and "== The dashboard ==" in out, out
        overview = requests.get(url + "/", timeout=30).text
        assert "dataset-ingestion" in overview and "user-update" in overview and "pacer.dlq" in overview
        found = requests.get(url + "/search", params={"q": "20261234"}, timeout=30).text
        assert found.count('class="status s-done"') >= 3, found
        letters = requests.get(url + "/dead-letters", timeout=30).text
        assert "invalid message: start_date" in letters

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
