"""The dashboard's pages: the overview (counts, queue depths), search, one message's life,
the dead letters, and the replay and purge actions (confirmed, then done through
``pacer_celery.operators``, the same code as ``pacer messages replay``).

Pages read the journal through ``journal.search``; every one is rendered on the server
by autoescaping Jinja2 templates and needs no script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pacer_celery import bridges, operators
from pacer_celery.bridges.broker import what_failed
from pacer_celery.cli.output import when
from pacer_celery.dashboard import present, queues
from pacer_celery.dashboard.auth import Authentication, authenticator
from pacer_celery.dashboard.security import SecurityHeaders, Tokens
from pacer_celery.journal import FINAL, Journal, search
from pacer_celery.journal.search import Criteria, SearchError
from pacer_celery.settings import Settings

#: Rows per page of search results and dead letters.
PAGE = 50
PERIODS = {"last hour": timedelta(hours=1), "last day": timedelta(days=1), "last week": timedelta(weeks=1)}
DEAD = ("dead-lettered", "invalid")
#: Longest message id PACER journals: anything longer names no message.
MAX_ID_CHARS = 255


def names_a_message(text: str) -> bool:
    """Whether ``text`` could be a journaled message id (bridges keep only printable ones)."""
    return 0 < len(text) <= MAX_ID_CHARS and text.isprintable()


@dataclass(frozen=True)
class Target:
    """A message an action takes, and its dead letter."""

    message_id: str
    dead_letter_id: str | None


@dataclass(frozen=True)
class Selection:
    """What a list page shows, and so what a bulk action on it takes: read from the page's
    query string, carried by its forms."""

    q: str = ""
    #: "search": any message; "dead-letters": dead-lettered and invalid ones.
    scope: str = "search"
    #: dead letters: "dead-lettered", "invalid", or "" for both
    status: str = ""
    reason: str = ""
    #: dead letters: list those an operator purged too
    purged: bool = False

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Selection:
        scope = "dead-letters" if fields.get("scope") == "dead-letters" else "search"
        return cls(
            q=str(fields.get("q", "")),
            scope=scope,
            status=str(fields.get("status", "")) if fields.get("status") in DEAD else "",
            reason=str(fields.get("reason", ""))[: search.MAX_SEARCH_CHARS],
            purged=fields.get("purged") == "1",
        )

    def criteria(self) -> Criteria:
        """Search criteria; SearchError when the search text makes no sense."""
        criteria = search.parse(self.q)
        if self.scope != "dead-letters":
            return criteria
        statuses = (self.status,) if self.status else DEAD
        return replace(criteria, statuses=statuses, reason=self.reason or None, unpurged=not self.purged)

    def fields(self) -> dict[str, str]:
        """The non-empty fields, for links and hidden form inputs."""
        every = {"q": self.q, "scope": "dead-letters" if self.scope == "dead-letters" else "",
                 "status": self.status, "reason": self.reason,
                 "purged": "1" if self.purged else ""}
        return {k: v for k, v in every.items() if v}


def create_app(settings: Settings, journal: Journal) -> Starlette:
    """The dashboard on ``journal``, with the authentication ``settings`` ask for."""
    bridges.load()  # a facility's message types: their input queues, and replaying them
    secret = settings.dashboard_secret.get_secret_value().encode() if settings.dashboard_secret else None
    pages = Pages(settings, journal, Tokens(secret))
    static = StaticFiles(directory=str(resources.files("pacer_celery.dashboard") / "static"))
    return Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/search", pages.search),
            Route("/message", pages.message),
            Route("/dead-letters", pages.dead_letters),
            Route("/replay", pages.replay, methods=["POST"]),
            Route("/purge", pages.purge, methods=["POST"]),
            Route("/healthz", lambda _: PlainTextResponse("ok")),
            Mount("/static", static, name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(Authentication, authenticator=authenticator(settings)),
        ],
        exception_handlers={
            SearchError: pages.refused,
            OperationalError: pages.unavailable,
            SQLAlchemyError: pages.unavailable,
        },
    )


class Pages:
    def __init__(self, settings: Settings, journal: Journal, tokens: Tokens) -> None:
        self.settings = settings
        self.journal = journal
        self.tokens = tokens
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("pacer_celery.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters.update(when=when, first_line=present.first_line, visible=present.visible,
                           readable=present.readable, seconds=present.seconds)
        env.globals.update(message_url=message_url, flower_task=self.flower_task, page_url=page_url)
        self.templates = Jinja2Templates(env=env)

    # -- pages -------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        now = datetime.now(UTC)
        with self.journal.engine.connect() as connection:
            counts = search.periods(connection, {name: now - span for name, span in PERIODS.items()})
        depths, broker_problem = queues.depths(self.settings, queues.queue_names())
        seen = {status for per_type in counts.values() for c in per_type.values() for status in c}
        return self._render(request, "overview.html", counts=counts, depths=depths,
                            broker_problem=broker_problem,
                            statuses=[s for s in search.STATUSES if s in seen])

    def search(self, request: Request) -> Response:
        return self._list(request, Selection.of(request.query_params), "search.html")

    def dead_letters(self, request: Request) -> Response:
        selection = replace(Selection.of(request.query_params), scope="dead-letters")
        return self._list(request, selection, "dead_letters.html")

    def message(self, request: Request) -> Response:
        message_id = request.query_params.get("id", "")
        found = None
        with self.journal.engine.connect() as connection:
            if names_a_message(message_id):
                found = search.timeline(connection, message_id)
            if found is None:
                return self._render(request, "missing.html", message_id=message_id, status_code=404)
            shown = None
            if request.query_params.get("body") == "1":
                data, size = search.body(connection, message_id, self.settings.dashboard_body_bytes)
                shown = present.body(data, size, found.message["content_type"])
            purge = search.purges(connection, [message_id]).get(message_id)
        m = found.message
        purged = purge if purge and m["finished_at"] and purge.at >= m["finished_at"] else None
        return self._render(request, "message.html", m=m, events=present.events(found), body=shown,
                            purged=purged, final=m["status"] in FINAL,
                            can_purge=bool(m["dead_letter_id"]) and purged is None)

    # -- actions -----------------------------------------------------------------------

    async def replay(self, request: Request) -> Response:
        return await self._action(request, "replay")

    async def purge(self, request: Request) -> Response:
        return await self._action(request, "purge")

    async def _action(self, request: Request, action: str) -> Response:
        form = await request.form()
        user = request.state.user
        if not self.tokens.valid(user, str(form.get("csrf", ""))):
            return PlainTextResponse("403: this form is not from this dashboard, or it expired: reload the page",
                                     status_code=403)
        ids = [str(i) for i in form.getlist("id") if names_a_message(str(i))]
        selection = None if ids else Selection.of(form)
        upto = form.get("upto")
        args = (action, user, ids, selection, int(upto) if str(upto or "").isdigit() else None,
                form.get("confirmed") == "yes")
        return await run_in_threadpool(self._act, request, *args)

    def _act(self, request: Request, action: str, user: str, ids: list[str], selection: Selection | None,
             upto: int | None, confirmed: bool) -> Response:
        with self.journal.engine.connect() as connection:
            if selection is not None and upto is None:
                upto = search.newest_seq(connection)
            rows = self._targets(connection, ids, selection, upto)
        if action == "purge":
            rows = [r for r in rows if r.dead_letter_id]
        limit = self.settings.dashboard_max_bulk
        if not confirmed or not rows or len(rows) > limit:
            return self._render(request, "confirm.html", action=action, count=len(rows), limit=limit,
                                ids=ids, selection=selection, upto=upto)
        actor = f"dashboard:{user}"
        if action == "replay":
            replayed = operators.replay(self.journal, self.settings, [r.message_id for r in rows], actor)
            outcomes = [(o.message_id, o.action, o.detail) for o in replayed]
        else:
            letters = {r.dead_letter_id for r in rows if r.dead_letter_id}
            purged = operators.purge_dead_letters(self.journal, self.settings, letters, actor)
            gone = {o.letter.id for o in purged}
            outcomes = [(r.message_id, "purged" if r.dead_letter_id in gone else "not in pacer.dlq",
                         f"dead letter {r.dead_letter_id}") for r in rows]
        return self._render(request, "done.html", action=action, outcomes=outcomes)

    def _targets(self, connection, ids: list[str], selection: Selection | None, upto: int | None) -> list[Target]:
        """What an action takes: the named messages, or the selection's matches up to
        ``upto`` (one more than the limit at most: enough to refuse)."""
        if selection is None:
            records = (self.journal.load(message_id) for message_id in dict.fromkeys(ids))
            return [Target(r.message_id, r.dead_letter_id) for r in records if r is not None]
        targets = []
        for row in search.matching(connection, replace(selection.criteria(), upto_seq=upto)):
            targets.append(Target(row.message_id, row.dead_letter_id))
            if len(targets) > self.settings.dashboard_max_bulk:
                break
        return targets

    # -- errors --------------------------------------------------------------------------

    def refused(self, request: Request, exc: Exception) -> Response:
        return self._render(request, "problem.html", problem=str(exc), status_code=400)

    def unavailable(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, SQLAlchemyError):
            problem = "the journal: " + (str(exc).strip().splitlines() or ["?"])[0]
        else:
            problem = f"the broker: {what_failed(exc)}"
        return self._render(request, "problem.html", problem=problem, status_code=503)

    # -- helpers -------------------------------------------------------------------------

    def _list(self, request: Request, selection: Selection, template: str) -> Response:
        before = request.query_params.get("before", "")
        criteria = selection.criteria()
        with self.journal.engine.connect() as connection:
            rows = search.search(connection, criteria, limit=PAGE + 1,
                                 before=int(before) if before.isdigit() else None)
            more = len(rows) > PAGE
            rows = rows[:PAGE]
            purges = search.purges(connection, [r.message_id for r in rows])
        # A purge counts for the dead letter it removed, not one of a later failure.
        purges = {r.message_id: purges[r.message_id] for r in rows
                  if r.message_id in purges and r.finished_at and purges[r.message_id].at >= r.finished_at}
        return self._render(request, template, selection=selection, rows=rows, purges=purges,
                            older=rows[-1].seq if more else None, paged=bool(before))

    def _render(self, request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
        user = getattr(request.state, "user", "")
        context.update(user=user, csrf=self.tokens.issue(user), auth=self.settings.dashboard_auth)
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def flower_task(self, task_id: str | None) -> str | None:
        if not self.settings.flower_url or not task_id:
            return None
        return f"{self.settings.flower_url.rstrip('/')}/task/{quote(task_id, safe='')}"


def message_url(message_id: str, **extra: str) -> str:
    return "/message?" + urlencode({"id": message_id, **extra})


def page_url(path: str, fields: Mapping[str, str], **extra: Any) -> str:
    query = {**fields, **{k: str(v) for k, v in extra.items() if v is not None}}
    return path + ("?" + urlencode(query) if query else "")

