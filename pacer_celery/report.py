"""The report a message's chain hands from step to step: what each step did or why it failed.

It is plain data (a dict) so it travels in Celery messages and shows on the dashboard.
"""

from __future__ import annotations

from typing import Any

Report = dict[str, Any]


def new_report(message_id: str) -> Report:
    return {"message_id": message_id, "steps": []}


def with_success(report: Report, step: str, result: Any) -> Report:
    return _with(report, {"step": step, "status": "ok", "result": result})


def with_failure(report: Report, step: str, error: str, attempts: int) -> Report:
    return _with(report, {"step": step, "status": "failed", "error": error, "attempts": attempts})


def failures(report: Report) -> list[dict[str, Any]]:
    return [s for s in report["steps"] if s["status"] == "failed"]


def _with(report: Report, entry: dict[str, Any]) -> Report:
    # A redelivered step replaces its earlier entry, so the report stays one line a step.
    steps = [s for s in report["steps"] if s["step"] != entry["step"]]
    return {**report, "steps": [*steps, entry]}
