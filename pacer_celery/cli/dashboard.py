"""``pacer dashboard``: serve the journal's web page (see pacer_celery.dashboard)."""

from __future__ import annotations

import argparse

from pacer_celery.settings import Settings, get_settings


def add(commands) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        help="serve the web dashboard over the message journal",
        description="Search messages, follow one message's steps, list, replay and purge dead "
        "letters, and see counts and queue depths. Log-in: PACER_DASHBOARD_AUTH=basic "
        "(PACER_DASHBOARD_USERS or PACER_DASHBOARD_USERS_FILE), header (behind a proxy that "
        "authenticates), or none (a local demo only). Stops on Ctrl-C or SIGTERM.",
    )
    dashboard.add_argument("--host", help="address to listen on (default PACER_DASHBOARD_HOST, 127.0.0.1)")
    dashboard.add_argument("--port", type=int, help="port (default PACER_DASHBOARD_PORT, 8080)")
    dashboard.set_defaults(run=_dashboard)


def serve(settings: Settings) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM, on the process's journal."""
    import uvicorn

    from pacer_celery.dashboard.app import create_app
    from pacer_celery.journal import journal

    app = create_app(settings, journal())
    print(f"PACER dashboard on http://{_url_host(settings.dashboard_host)}:{settings.dashboard_port}/ "
          f"(Ctrl-C to stop)", flush=True)
    # The proxy headers are off: a client address from X-Forwarded-For could pass for
    # a trusted proxy's (header authentication).
    uvicorn.run(app, host=settings.dashboard_host, port=settings.dashboard_port, log_level="warning",
                proxy_headers=False, server_header=False)


def _dashboard(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in (("dashboard_host", args.host), ("dashboard_port", args.port)) if v}
    serve(get_settings().model_copy(update=changes))
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
