"""What went wrong with the broker, in one line an operator can act on."""

from __future__ import annotations

import socket
from urllib.parse import unquote

import amqp.exceptions
from kombu import Connection


def where(connection: Connection) -> str:
    """``user@host:port vhost '/'``: everything but the password."""
    vhost = unquote(connection.virtual_host or "/")
    return f"{connection.userid}@{connection.hostname}:{connection.port} (virtual host {vhost!r})"


def describe_failure(connection: Connection, exc: BaseException) -> str:
    """``connection refused (is RabbitMQ running there?), talking to guest@127.0.0.1:5672 (virtual host '/')``."""
    return f"{what_failed(exc)}, talking to {where(connection)}"


def what_failed(exc: BaseException) -> str:
    cause = exc
    # kombu wraps py-amqp's and the socket's errors as OperationalError.
    while cause.__cause__ is not None and not _known(cause):
        cause = cause.__cause__
    if isinstance(cause, amqp.exceptions.AccessRefused):
        return "login refused (wrong user name or password?)"
    if isinstance(cause, amqp.exceptions.NotAllowed):
        return "virtual host refused (it does not exist, or the user may not use it)"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (is RabbitMQ running there?)"
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(cause, amqp.exceptions.ConnectionForced):
        return "the broker closed the connection (restarting?)"
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else 'no detail'}"


def _known(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (amqp.exceptions.AMQPError, ConnectionRefusedError, socket.gaierror, socket.timeout, TimeoutError),
    )
