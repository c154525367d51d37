"""Login sessions: UUIDs with an expiry, ICAT's SessionManager in memory.

Messages follow icat.server's SessionManager and Session entity.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from testbox.errors import IcatError

DEFAULT_LIFETIME_MINUTES = 120


@dataclass
class Session:
    id: str
    user: str
    expires: float  # time.time() at which the session ends


class SessionManager:
    """Thread-safe store of sessions; ``lifetime_minutes`` applies to login and refresh."""

    def __init__(self, lifetime_minutes: float = DEFAULT_LIFETIME_MINUTES) -> None:
        self.lifetime_minutes = lifetime_minutes
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, user: str) -> str:
        session = Session(str(uuid.uuid4()), user, time.time() + self.lifetime_minutes * 60)
        with self._lock:
            self._purge_expired()
            self._sessions[session.id] = session
        return session.id

    def logout(self, session_id: str | None) -> None:
        self._find(session_id)
        with self._lock:
            self._sessions.pop(session_id, None)

    def refresh(self, session_id: str | None) -> None:
        # Like ICAT, refresh does not check expiry: a known session gets a new lifetime.
        session = self._find(session_id)
        session.expires = time.time() + self.lifetime_minutes * 60

    def user(self, session_id: str | None) -> str:
        """The user name of a valid session, or ICAT's SESSION error."""
        return self._valid(session_id).user

    def remaining_minutes(self, session_id: str | None) -> float:
        return (self._valid(session_id).expires - time.time()) / 60.0

    def expire(self, session_id: str | None) -> None:
        """End a session's lifetime now (for tests of expiry); it stays known, as in ICAT."""
        self._find(session_id).expires = time.time() - 1

    def _find(self, session_id: str | None) -> Session:
        if not session_id:
            raise IcatError("SESSION", "Session Id cannot be null or empty.")
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise IcatError("SESSION", f"Unable to find user by sessionid: {session_id}")
        return session

    def _valid(self, session_id: str | None) -> Session:
        session = self._find(session_id)
        if session.expires < time.time():
            raise IcatError("SESSION", f"Session id:{session.id} has expired")
        return session

    def _purge_expired(self) -> None:
        # ICAT deletes expired sessions periodically; an hour's grace keeps the
        # "has expired" answer available for a while, as there.
        cutoff = time.time() - 3600
        for sid in [s.id for s in self._sessions.values() if s.expires < cutoff]:
            del self._sessions[sid]
