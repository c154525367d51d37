"""A real ``pacer dashboard`` process on the run's journal and broker, a real headless
Chromium driving it, and the core fixtures (in-process worker, probe bridges) that give
it messages to show."""

from __future__ import annotations

import base64
import os
import pty
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.core.conftest import bridges, broker, run, worker  # noqa: F401 - fixtures used here
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Links to tasks point here; nothing needs to answer for the links to be checked.
FLOWER = "http://flower.example:5555"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """Whether a dashboard answers its health check at ``url``."""
    try:
        return requests.get(url + "/healthz", timeout=1).ok
    except requests.ConnectionError:
        return False


@dataclass(frozen=True)
class Dashboard:
    url: str
    user: str
    password: str

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, headers={"Authorization": self.authorization}, timeout=30, **kwargs)


@contextmanager
def running_dashboard(log: Path, **environment: str) -> Iterator[str]:
    """``pacer dashboard`` in a process of its own with these settings, its output in
    ``log``; yields its URL once it answers."""
    port = environment.setdefault("PACER_DASHBOARD_PORT", str(free_port()))
    output = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pacer_celery.cli", "dashboard"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PACER_BRIDGE_MODULES": "tests.support.probe",
             "PACER_FLOWER_URL": FLOWER, **environment},
        stdout=output,
        stderr=subprocess.STDOUT,
    )

    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        return answers(url)

    try:
        wait_for(up, timeout=60, what="the dashboard to answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        output.close()


@contextmanager
def running_demo(workdir: Path) -> Iterator[tuple[str, subprocess.Popen, str]]:
    """``pacer demo`` as a person at a terminal runs it (stdin a terminal), on embedded
    defaults only; yields its dashboard's URL once it answers, the process, and what the
    demo printed until then. Killed at the end if still running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACER_", "ICAT_"))}
    env["PACER_DASHBOARD_PORT"] = str(free_port())
    terminal, keyboard = pty.openpty()
    demo = subprocess.Popen(
        [sys.executable, "-m", "pacer_celery.cli", "demo"],
        cwd=workdir, env=env, stdin=keyboard, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("PACER dashboard on"):
                break
        out = "".join(seen)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", seen[-1] if seen else "")
        assert found, out
        wait_for(lambda: answers(found.group(1)), timeout=30, what="the demo's dashboard")
        yield found.group(1), demo, out
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        os.close(terminal)
        os.close(keyboard)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Dashboard]:
    password = secrets.token_urlsafe(12)
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with running_dashboard(log, PACER_DASHBOARD_AUTH="basic", PACER_DASHBOARD_USERS=f"ops:{password}") as url:
        yield Dashboard(url, "ops", password)


def chromium(profile: Path) -> webdriver.Chrome:
    """Debian's Chromium, headless, on a fresh profile: no network of its own, nothing
    downloaded (.ci/run installs chromium and chromium-driver)."""
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "the browser tests need Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture(scope="module")
def browser(dashboard, tmp_path_factory) -> Iterator[webdriver.Chrome]:
    """A browser logged in to the dashboard (basic auth, sent with every request)."""
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": dashboard.authorization}})
        yield driver
    finally:
        driver.quit()
