"""Steps: plain functions that do a message's work, run by Celery as links of a chain.

A step is a typed function, decorated with the name it is registered under::

    @step("datasets.create_dataset")
    def create_dataset(message: DatasetMessage, client: icat.Client) -> dict:
        ...

It stays callable as the plain function (tests, scripts). Declaring ``client`` gets the
worker process's logged-in python-icat client and PACER's classification of ICAT's
errors (retry, or dead letter); declaring ``earlier`` gets the results of the message's
earlier steps, by step name. Keyword arguments a bridge gives with ``step.s(...)`` arrive
as themselves. ``worker.runtime`` does the rest.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from celery import Task

from pacer_celery.app import app
from pacer_celery.chains import TASK_PREFIX, StepCall
from pacer_celery.errors import DeadLettered
from pacer_celery.models.base import PacerModel
from pacer_celery.worker import runtime


class Step:
    """A chain step: the plain function plus the Celery task that runs it."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name
        self.model: type[PacerModel] = typing.get_type_hints(func)["message"]
        parameters = inspect.signature(func).parameters
        self.wants_client = "client" in parameters
        self.wants_earlier = "earlier" in parameters

        def run(task: Task, *args: Any, **kwargs: Any) -> str:
            return runtime.run(self, task, args, kwargs)

        run.__module__, run.__qualname__ = func.__module__, func.__qualname__
        # typing=False: a link gets its report from the previous link only when it runs.
        # max_retries=None: the runtime decides when to give up. ignore_result: nobody
        # reads results (Flower reads events), and the journal keeps what steps did.
        # throws: a dead-lettered step is an expected end, logged in one line.
        self.task: Task = app.task(
            bind=True,
            name=TASK_PREFIX + name,
            typing=False,
            max_retries=None,
            ignore_result=True,
            throws=(DeadLettered,),
            # How the runtime finds the step of a chain's next link, to run it in the same task.
            pacer_step=self,
        )(run)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def call(self) -> StepCall:
        return StepCall(self.name)

    def s(self, **params: Any) -> StepCall:
        """This step with step-specific keyword arguments, for a bridge's callback."""
        return StepCall(self.name, params)


def step(name: str) -> Callable[[Callable[..., Any]], Step]:
    """Make a plain function a chain step registered as the Celery task ``pacer.<name>``."""

    def decorate(func: Callable[..., Any]) -> Step:
        return Step(func, name)

    return decorate
