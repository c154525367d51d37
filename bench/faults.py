"""The fault soak: PACER under a long load while its parts keep breaking.

    python bench/faults.py [--messages 10000] [--rate 4] [--icat-down 60] [--stalled-after 30] [--seed 7]

Starts the fault suite's stack (tests/faults/stack.py: a private RabbitMQ node, an ICAT
testbox on a file, a PostgreSQL journal, 2 ``pacer bridge`` and 2 Celery workers), publishes
the load (tests/support/load.py) at ``--rate`` messages per second while the soak schedule
(tests/faults/schedule.py) kills workers and bridges, restarts and crashes the broker and
stops ICAT for ``--icat-down`` seconds, round after round; then waits until every message
has met its fate and checks ICAT and ``pacer.dlq`` against the plan.

Prints the figures (``faults: N messages, lost=0 duplicated=0 wrongly_dead_lettered=0``),
the faults injected and the timings; exits 1 unless every figure is zero. Everything it
started is stopped, and its temporary directory removed, however it ends.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults import schedule  # noqa: E402 - after the path is set
from tests.faults.harness import fault_run  # noqa: E402
from tests.faults.stack import Tuning  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages to publish (default 10000)")
    parser.add_argument("--rate", type=float, default=4.0, help="messages per second (default 4)")
    parser.add_argument("--icat-down", type=float, default=60.0, help="seconds of each ICAT outage (default 60)")
    parser.add_argument("--settle-timeout", type=float, default=1800.0,
                        help="seconds to wait after the load for every message to settle (default 1800)")
    parser.add_argument("--stalled-after", type=float, default=Tuning.stalled_after_seconds,
                        help="PACER_STALLED_AFTER_SECONDS for the run (default %(default)s; production's is 300)")
    parser.add_argument("--seed", type=int, default=7, help="the load's random seed (default 7)")
    args = parser.parse_args()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so every process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    faults = schedule.soak(seconds=args.messages / args.rate, icat_down=args.icat_down)
    result = fault_run(args.messages, faults, rate=args.rate, settle_timeout=args.settle_timeout, seed=args.seed,
                       tuning=Tuning(stalled_after_seconds=args.stalled_after))
    print(result.summary())
    if any(result.figures.values()):
        print(result.details())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
