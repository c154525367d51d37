"""The worker side: steps (``@step``), the runtime that runs them as Celery tasks, and
what a worker process does when it starts."""

from pacer_celery.worker.step import Step, step

__all__ = ["Step", "step"]
