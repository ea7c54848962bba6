"""A store made by an earlier version of the schema: migrated up to, not including, one migration.

Tests of a migration that changes existing data (a backfill, a rebuild) fill such a store with
spans, then apply the remaining migrations, as an upgrade does.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmtrace.store import Store, open_store
from llmtrace.store.migrate import migrations_dir


@contextmanager
def store_before(
    chdb_dsn: str, directory: Path, migration: str, *, span_ttl_days: int | None = None
) -> Iterator[Store]:
    """A store on a fresh database with the migrations that sort before ``migration`` applied
    (copied into ``directory``, with the span TTL an operator may have set); the database is dropped
    afterwards."""
    directory.mkdir(exist_ok=True)
    for path in migrations_dir().glob("*.sql"):
        if path.name < migration:
            shutil.copy(path, directory)
    database = f"o_{uuid.uuid4().hex[:12]}"
    opened = open_store(chdb_dsn, database)
    try:
        opened.migrate(span_ttl_days, migrations_dir=directory)
        yield opened
    finally:
        opened.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
        opened.close()
