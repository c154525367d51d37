"""ICAT's operations, independent of the SOAP wire format.

Every data operation runs with a ``testbox.authz.Policy`` for its caller: root users
(ICAT's ``rootUserNames``) may do anything, everybody else what the rules stored in the
ICAT grant them, as icat.server 6.2 decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from testbox import query as queries
from testbox.accounts import Account
from testbox.authz import ACCESS_FLAGS, GrantsCache, Policy
from testbox.errors import IcatError
from testbox.model import BASE_ATTRIBUTES, ENTITIES, PARAMETER_BASE, PARAMETER_FIELDS, Bean, Entity
from testbox.sessions import DEFAULT_LIFETIME_MINUTES, SessionManager
from testbox.store import Store

API_VERSION = "6.2.0"
DEFAULT_MAX_ENTITIES = 10000
AUTH_PLUGIN = "db"

_META_TYPES = {"id": "Long", "createId": "String", "createTime": "Date", "modId": "String", "modTime": "Date"}


def icat_user_name(account: str) -> str:
    """An account ``name`` or ``plugin/name`` as ICAT names the user: ``plugin/name``."""
    return account if "/" in account else f"{AUTH_PLUGIN}/{account}"


@dataclass
class Config:
    """An instance's settings: who may log in, who is root, limits and time zone.

    ``users`` maps accounts to passwords; an account is ``name`` (plugin ``db``) or
    ``plugin/name`` for another authenticator mnemonic (e.g. ``simple/root``, as in
    python-icat's test setup). ``root_users`` names accounts the same way.
    """

    users: dict[str, str] = field(default_factory=lambda: {"root": "root"})
    root_users: set[str] = field(default_factory=lambda: {"root"})
    session_minutes: float = DEFAULT_LIFETIME_MINUTES
    max_entities: int = DEFAULT_MAX_ENTITIES
    #: The server's time zone (IANA name): ICAT reads dates sent without an offset in it.
    timezone: str = "UTC"

    @property
    def zone(self) -> tzinfo:
        """``timezone`` as a tzinfo."""
        return ZoneInfo(self.timezone)

    @property
    def passwords(self) -> dict[str, str]:
        """ICAT user name -> password."""
        return {icat_user_name(account): password for account, password in self.users.items()}

    @property
    def root_user_names(self) -> list[str]:
        """ICAT's ``rootUserNames``."""
        return sorted(icat_user_name(account) for account in self.root_users)

    @property
    def plugins(self) -> list[str]:
        """The authenticator mnemonics: ``db`` and any other that an account uses."""
        return sorted({AUTH_PLUGIN} | {name.split("/", 1)[0] for name in self.passwords})

    def add_accounts(self, accounts: list[Account]) -> None:
        """More accounts (a known one gets the new password). The dict is replaced, not
        changed, so logins running meanwhile read either the old or the new one."""
        self.users = {**self.users, **{a.user_name: a.password for a in accounts}}


class IcatService:
    """One ICAT instance: a store, its sessions and its accounts."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.sessions = SessionManager(config.session_minutes)
        self._grants = GrantsCache()

    # ------------------------------------------------------------------ sessions

    def login(self, plugin: str | None, credentials: dict[str, str]) -> str:
        if plugin not in self.config.plugins:
            raise IcatError("SESSION", f"Authenticator mnemonic {plugin} not recognised")
        username = credentials.get("username")
        password = credentials.get("password")
        if not username:
            raise IcatError("SESSION", "username cannot be null or empty.")
        if not password:
            raise IcatError("SESSION", "password cannot be null or empty.")
        user = f"{plugin}/{username}"
        if self.config.passwords.get(user) != password:
            raise IcatError("SESSION", "The username and password do not match")
        return self.sessions.login(user)

    def logout(self, session_id: str | None) -> None:
        self.sessions.logout(session_id)

    def refresh(self, session_id: str | None) -> None:
        self.sessions.refresh(session_id)

    def get_user_name(self, session_id: str | None) -> str:
        return self.sessions.user(session_id)

    def get_remaining_minutes(self, session_id: str | None) -> float:
        return self.sessions.remaining_minutes(session_id)

    def is_root(self, user: str) -> bool:
        return user in self.config.root_user_names

    def add_accounts(self, session_id: str | None, accounts: list[Account]) -> None:
        """The testbox's own call (not ICAT's): accounts that may log in from now on. Only
        a root user may add them, so the hook gives nobody more than root already has."""
        user = self.sessions.user(session_id)
        if not self.is_root(user):
            raise IcatError("INSUFFICIENT_PRIVILEGES", "user must be in rootUserNames")
        self.config.add_accounts(accounts)

    def _caller(self, session_id: str | None) -> tuple[str, Policy]:
        """The session's user and what it may do in this write."""
        user = self.sessions.user(session_id)
        return user, Policy(user, self.is_root(user))

    def _reader(self, session_id: str | None) -> tuple[str, Policy]:
        """The session's user and what it may read; the store's generation is taken before
        the read begins, so cached grants are never older than what the read sees."""
        user = self.sessions.user(session_id)
        return user, Policy(user, self.is_root(user), self._grants, self.store.generation)

    # ------------------------------------------------------------------ metadata

    @staticmethod
    def get_api_version() -> str:
        return API_VERSION

    @staticmethod
    def get_entity_names() -> list[str]:
        return sorted(ENTITIES)

    def get_authenticator_info(self) -> list[dict[str, Any]]:
        return [
            {
                "mnemonic": plugin,
                "admin": False,
                "friendly": None,
                "keys": [{"name": "username", "hide": False}, {"name": "password", "hide": True}],
            }
            for plugin in self.config.plugins
        ]

    def get_properties(self, session_id: str | None) -> list[str]:
        user = self.sessions.user(session_id)
        if not self.is_root(user):
            raise IcatError("INSUFFICIENT_PRIVILEGES", "user must be in rootUserNames")
        return [
            "authn.list " + " ".join(self.config.plugins),
            f"lifetimeMinutes {self.config.session_minutes:g}",
            "rootUserNames " + " ".join(self.config.root_user_names),
            f"maxEntities {self.config.max_entities}",
        ]

    @staticmethod
    def get_entity_info(bean_name: str | None) -> dict[str, Any]:
        """ICAT's EntityInfo: constraint (only if any) and every field sorted by name."""
        if bean_name == PARAMETER_BASE:
            entity = ENTITIES["DatasetParameter"]
            names = set(PARAMETER_FIELDS)
            constraints: list[list[str]] = []
        elif bean_name in ENTITIES:
            entity = ENTITIES[bean_name]
            names = {a.name for a in entity.attributes} | {r.name for r in entity.ones} | {m.name for m in entity.manys}
            constraints = [list(entity.unique)] if entity.unique else []
        else:
            raise IcatError("BAD_PARAMETER", f"{bean_name} is not an ICAT entity")
        fields = [_field_info(entity, name) for name in sorted(names | set(BASE_ATTRIBUTES))]
        return {"constraints": constraints, "fields": fields}

    # ------------------------------------------------------------------ data

    def search(self, session_id: str | None, query: str | None) -> list:
        user, policy = self._reader(session_id)
        if query is None:
            raise IcatError("BAD_PARAMETER", "query may not be null")
        with self.store.reading() as conn:
            return queries.search(conn, query, user=user, max_entities=self.config.max_entities,
                                  authorizer=policy)

    def get(self, session_id: str | None, query: str | None, primary_key: int) -> Bean:
        user, policy = self._reader(session_id)
        if query is None:
            raise IcatError("BAD_PARAMETER", "query may not be null")
        with self.store.reading() as conn:
            return queries.get(conn, query, primary_key, user=user, max_entities=self.config.max_entities,
                               authorizer=policy)

    def create(self, session_id: str | None, bean: Bean) -> int:
        user, policy = self._caller(session_id)
        return self.store.create(bean, user, policy)

    def create_many(self, session_id: str | None, beans: list[Bean]) -> list[int]:
        user, policy = self._caller(session_id)
        return self.store.create_many(beans, user, policy)

    def update(self, session_id: str | None, bean: Bean) -> None:
        user, policy = self._caller(session_id)
        self.store.update(bean, user, policy)

    def delete(self, session_id: str | None, bean: Bean) -> None:
        _, policy = self._caller(session_id)
        self.store.delete(bean, policy)

    def delete_many(self, session_id: str | None, beans: list[Bean]) -> None:
        _, policy = self._caller(session_id)
        self.store.delete_many(beans, policy)

    def is_access_allowed(self, session_id: str | None, bean: Bean, access_type: str | None) -> bool:
        if access_type == "CREATE":
            # ICAT tries the create in a transaction it rolls back: invalid beans still fault.
            user, policy = self._caller(session_id)
            return self.store.check_create(bean, user, policy)
        _, policy = self._reader(session_id)
        if access_type not in ACCESS_FLAGS:
            raise IcatError("BAD_PARAMETER", "invalid access type, must be 'READ', 'UPDATE', 'DELETE' or 'CREATE'")
        with self.store.reading() as conn:
            policy.begin(conn)
            return policy.allows(conn, access_type, bean)


def _field_info(entity: Entity, name: str) -> dict[str, Any]:
    if name in _META_TYPES:
        return {"name": name, "type": _META_TYPES[name], "notNullable": False, "relType": "ATTRIBUTE",
                "stringLength": None}
    attr = entity.attribute(name)
    if attr is not None:
        return {"name": name, "type": attr.type, "notNullable": attr.not_null, "relType": "ATTRIBUTE",
                "stringLength": attr.max_length}
    one = entity.one(name)
    if one is not None:
        return {"name": name, "type": one.target, "notNullable": one.not_null, "relType": "ONE",
                "stringLength": None}
    many = entity.many(name)
    return {"name": name, "type": many.target, "notNullable": False, "relType": "MANY", "stringLength": None}
