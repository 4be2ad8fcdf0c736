"""``esign serve``: run the HTTP service with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli import fail
from keys.errors import BadInputError, EsignError

__all__ = ["serve"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (overrides ESIGN_DATA_DIR; default ./var).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (use PostgreSQL + Redis for more than one).")
def serve(host: str, port: int, data_dir: Path | None, workers: int) -> None:
    """Run the HTTP service. The first start on an empty database bootstraps a demo region.

    Settings come from ESIGN_* environment variables (docs/configuration.md). Demo tokens are
    written to <data-dir>/secrets/<role>.token (mode 0600); they are never printed or logged.
    """
    import os

    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    try:
        overrides = {"data_dir": data_dir} if data_dir is not None else {}
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        fail(BadInputError(f"invalid ESIGN_* setting: {exc}", message_zh="配置项无效"))
    from keys import _sm2

    try:
        _sm2.self_test()  # refuse to start, with the reason, before uvicorn prints anything
    except EsignError as exc:
        fail(exc)
    if workers > 1 and (settings.redis_url is None or not (settings.database_url or "").startswith("postgresql")):
        fail(BadInputError("more than one worker needs ESIGN_DATABASE_URL=postgresql+psycopg://... and "
                           "ESIGN_REDIS_URL", message_zh="多进程运行需要 PostgreSQL 与 Redis"))
    click.echo(f"esign: http://{host}:{port}/  (API docs /docs)  data dir {settings.data_dir.resolve()}", err=True)
    if settings.demo:
        click.echo(f"esign: demo tokens (admin, issuer, ...) in {settings.secrets_dir.resolve()}/<role>.token",
                   err=True)
    try:
        if workers > 1:
            if data_dir is not None:
                os.environ["ESIGN_DATA_DIR"] = str(data_dir)
            uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                        log_config=None, access_log=False)
        else:
            uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    except EsignError as exc:
        fail(exc)
