"""`pacer demo` run from a terminal leaves the dashboard open on the demo's messages, and
Ctrl-C ends it."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys

import requests

from tests.dashboard.conftest import answers, free_port
from tests.support.waiting import wait_for


def test_the_demo_leaves_its_dashboard_open_until_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACER_", "ICAT_"))}
    env["PACER_DASHBOARD_PORT"] = str(free_port())
    terminal, keyboard = pty.openpty()  # stdin is a terminal, as for a person trying it
    demo = subprocess.Popen(
        [sys.executable, "-m", "pacer_celery.cli", "demo"],
        cwd=tmp_path, env=env, stdin=keyboard, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("PACER dashboard on"):
                break
        out = "".join(seen)
        assert "[6/6]" in out and "== The dashboard ==" in out, out
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", seen[-1]).group(1)
        assert url.endswith(env["PACER_DASHBOARD_PORT"])
        wait_for(lambda: answers(url), timeout=30, what="the demo's dashboard")

        overview = requests.get(url + "/", timeout=30).text
        assert "dataset-ingestion" in overview and "user-update" in overview and "pacer.dlq" in overview
        found = requests.get(url + "/search", params={"q": "20261234"}, timeout=30).text
        assert found.count('class="status s-done"') >= 3, found
        letters = requests.get(url + "/dead-letters", timeout=30).text
        assert "invalid message: start_date" in letters

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        os.close(terminal)
        os.close(keyboard)
