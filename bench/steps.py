"""PACER's steps called as plain functions against the direct consumer's ICAT writer, in one
process, without a broker or a journal: the ICAT work alone (issue #14).

    python bench/steps.py [--messages 1000] [--rounds 2] [--mix dataset|proposal]

Each run is a process of its own with an ICAT testbox of its own (``icat-testbox icat`` on
SQLite, loaded with the speed bench's reference data), and writes a mix of bench/speed.py
(``dataset``: nine dataset-ingestions per proposal-update; ``proposal``: half of each):

- PACER: each message's steps (tasks/proposals.py, tasks/datasets.py) one after the other,
  each given the results of the ones before (``earlier``), as the worker runtime calls them,
  on PACER's ICAT client (``icat/session.py``);
- direct: bench/direct.py's ``IcatWriter.write`` for each message.

Messages are validated before the clock starts. The two alternate, round after round; the
bench prints each run's CPU and wall time per message and the medians' ratio PACER ÷
direct. Set beside bench/speed.py's CPU per message, it tells the ICAT work from what the
pipeline around it costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import ACCOUNT, testbox  # noqa: E402 - after the path is set
from pacer_celery.models.datasets import DatasetMessage  # noqa: E402 - reads no settings
from pacer_celery.models.proposals import ProposalMessage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "flows" / "reference.yaml"
#: The speed mix's message types and their models.
MODELS = {"proposal-update": ProposalMessage, "dataset-ingestion": DatasetMessage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages per run (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="PACER/direct pairs, alternated (default 2)")
    parser.add_argument("--mix", choices=("dataset", "proposal"), default="dataset", help="bench/speed.py's mix")
    parser.add_argument("--side", choices=("pacer", "direct"), help=argparse.SUPPRESS)  # one run, in a child
    args = parser.parse_args()
    if args.side:
        print(json.dumps(one_run(args.side, args.mix, args.messages)), flush=True)
        return
    runs: dict[str, list[dict[str, float]]] = {"pacer": [], "direct": []}
    for round_ in range(1, args.rounds + 1):
        for side in ("pacer", "direct"):
            child = subprocess.run(
                [sys.executable, __file__, "--side", side, "--mix", args.mix, "--messages", str(args.messages)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )
            run = json.loads(child.stdout.strip().splitlines()[-1])
            runs[side].append(run)
            print(f"round {round_} {side:6}: {run['messages']} messages, CPU {run['cpu_ms']:.2f} ms/msg, "
                  f"wall {run['wall_ms']:.2f} ms/msg", flush=True)
    cpu = {side: statistics.median(r["cpu_ms"] for r in rs) for side, rs in runs.items()}
    wall = {side: statistics.median(r["wall_ms"] for r in rs) for side, rs in runs.items()}
    print(f"{args.mix} mix, medians: PACER's steps CPU {cpu['pacer']:.2f}, direct writer {cpu['direct']:.2f} ms/msg; "
          f"PACER ÷ direct: CPU {cpu['pacer'] / cpu['direct']:.2f}, wall {wall['pacer'] / wall['direct']:.2f}")


def one_run(side: str, mix: str, count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="pacer-steps-") as directory, testbox(Path(directory) / "icat.sqlite") as url:
        # Before PACER's settings are first read.
        os.environ.update({
            "ICAT_SERVER_URL": url, "ICAT_AUTH_PLUGIN": "db", "ICAT_AUTH_USERNAME": ACCOUNT[0],
            "ICAT_AUTH_PASSWORD": ACCOUNT[1], "PACER_ICAT_FACILITY": "PACER",
        })
        import direct
        import speed
        from pacer_celery.icat import session
        from pacer_celery.settings import get_settings
        from pacer_celery.tasks.reference import load_reference, read_reference_file

        load_reference(session.client(), read_reference_file(REFERENCE))
        messages = [MODELS[kind].model_validate(body) for kind, body in speed.mix(mix, count)]
        writer = direct.IcatWriter(get_settings())
        write = pacer_steps(session.client()) if side == "pacer" else writer.write
        wall, cpu = time.perf_counter(), time.process_time()
        for message in messages:
            write(message)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        writer.client.logout()
        session.close()
    return {"messages": len(messages), "cpu_ms": 1000 * cpu / len(messages), "wall_ms": 1000 * wall / len(messages)}


def pacer_steps(client: Any):
    """A message's steps as its bridge chains them, called in order as the worker runtime
    calls them: each with its link's parameters and the results of the steps before it."""
    from pacer_celery import bridges
    from pacer_celery.app import app

    bridge = {model: bridges.bridge_for(kind)() for kind, model in MODELS.items()}

    def write(message: Any) -> None:
        earlier: dict[str, Any] = {}
        for call in bridge[type(message)].calls(message):
            step = app.tasks[call.task].pacer_step
            extra = {"earlier": earlier} if step.wants_earlier else {}
            earlier[step.name] = step(message, client=client, **call.params, **extra)

    return write


if __name__ == "__main__":
    main()
