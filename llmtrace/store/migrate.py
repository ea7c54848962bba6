"""Forward-only schema migrations: ordered ``NNNN_name.sql`` templates, applied once, recorded.

Each file is rendered (``{{database}}``, ``{{on_cluster}}``, ``{{span_ttl_days}}``,
``{{rollup_ttl_days}}``), split into statements and applied in order; then its name, the SHA-256
of the *template* and the time are inserted into ``<database>.schema_migrations``. Re-running is a
no-op. A file that changed after it was applied is refused: add a new numbered file instead.

A ``MODIFY SETTING`` of a MergeTree setting the server does not have is skipped: such settings
tune merges (``merge_selector_base``, 0135) and appeared after ClickHouse 24, which must still
accept every migration; without them the server merges as it always did.

Retention: TTLs given explicitly are reconciled on every run, so ``llmtrace migrate
--span-ttl-days 30`` on an existing install runs ``ALTER TABLE ... MODIFY TTL`` (or ``REMOVE
TTL`` for 0). Left as None, a fresh install gets the defaults and an existing one keeps its TTL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmtrace.store import cluster as cluster_ddl
from llmtrace.store.dsn import check_database_name
from llmtrace.store.errors import StoreError
from llmtrace.store.sql import TTL_PLACEHOLDERS, render, split_statements

DEFAULT_SPAN_TTL_DAYS = 90
DEFAULT_ROLLUP_TTL_DAYS = 400
MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql\Z")
_CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?\{\{database\}\}\.(\w+)", re.IGNORECASE)
_TTL_LINE = re.compile(r"^TTL (.+)$", re.MULTILINE)
_MODIFY_SETTING = re.compile(
    r"^ALTER TABLE \S+ (?:ON CLUSTER \S+ )?MODIFY SETTING (\w+) = [^,]+\Z", re.IGNORECASE
)

_BOOTSTRAP = (
    "CREATE DATABASE IF NOT EXISTS {{database}} {{on_cluster}}",
    f"CREATE TABLE IF NOT EXISTS {{{{database}}}}.{MIGRATIONS_TABLE} {{{{on_cluster}}}}\n"
    "(\n    name String,\n    checksum String,\n    applied_at DateTime64(6, 'UTC')\n)\n"
    "ENGINE = MergeTree()\nORDER BY name",
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``name`` is the file name, ``checksum`` the SHA-256 of its template."""

    name: str
    path: Path
    template: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()


def migrations_dir() -> Path:
    """The packaged migrations (``llmtrace/_schema`` in a wheel), else the repository's ``schema/``."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_schema" / "migrations", package.parent / "schema" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise StoreError(f"no migrations found (looked in {package / '_schema'} and {package.parent / 'schema'})")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The ``NNNN_name.sql`` files of ``directory`` in order; other files are ignored."""
    directory = directory or migrations_dir()
    files = sorted(p for p in directory.iterdir() if _FILE_NAME.match(p.name))
    numbers = [p.name[:4] for p in files]
    if len(set(numbers)) != len(numbers):
        raise StoreError(f"two migration files share a number in {directory}")
    return [Migration(p.name, p, p.read_text(encoding="utf-8")) for p in files]


@dataclass(frozen=True, slots=True)
class Renderer:
    """How templates are rendered for one install: database, TTLs and (optionally) a cluster.

    ``known_tables`` are the tables any migration creates; on a cluster each is ``<name>_local``
    behind a ``Distributed`` ``<name>``, so later statements about them are rewritten too.
    """

    database: str
    span_ttl_days: int
    rollup_ttl_days: int
    cluster: str | None = None
    known_tables: frozenset[str] = frozenset()

    def statements(self, template: str, where: str = "bootstrap") -> list[str]:
        values = {
            "database": self.database,
            "on_cluster": cluster_ddl.on_cluster(self.cluster),
            "span_ttl_days": self.span_ttl_days,
            "rollup_ttl_days": self.rollup_ttl_days,
        }
        statements = split_statements(render(template, values, where))
        if self.cluster:
            statements = cluster_ddl.rewrite(
                statements,
                database=self.database,
                cluster=self.cluster,
                unsharded=cluster_ddl.UNSHARDED_TABLES | {MIGRATIONS_TABLE},
                known=self.known_tables,
            )
        return statements


def render_ddl(
    database: str,
    *,
    span_ttl_days: int = DEFAULT_SPAN_TTL_DAYS,
    rollup_ttl_days: int = DEFAULT_ROLLUP_TTL_DAYS,
    cluster: str | None = None,
    directory: Path | None = None,
) -> list[str]:
    """Every statement a fresh install runs, in order (``llmtrace migrate --print``)."""
    check_database_name(database)
    _check_ttls(span_ttl_days, rollup_ttl_days)
    migrations = load_migrations(directory)
    renderer = Renderer(database, span_ttl_days, rollup_ttl_days, cluster, _tables(migrations))
    out = [statement for template in _BOOTSTRAP for statement in renderer.statements(template)]
    for migration in migrations:
        out.extend(renderer.statements(migration.template, migration.name))
    return out


def apply_migrations(
    client: Any,
    database: str,
    *,
    span_ttl_days: int | None = None,
    rollup_ttl_days: int | None = None,
    cluster: str | None = None,
    directory: Path | None = None,
) -> list[str]:
    """Apply pending migrations to ``database``; return the names applied now (empty = up to date)."""
    check_database_name(database)
    _check_ttls(span_ttl_days, rollup_ttl_days)
    migrations = load_migrations(directory)
    # A migration that rebuilds `spans` (0060) creates it again: with the TTL the store has now,
    # not the default, unless one is given.
    kept_span_ttl = _existing_span_ttl(client, database, cluster) if span_ttl_days is None else None
    renderer = Renderer(
        database,
        next(d for d in (span_ttl_days, kept_span_ttl, DEFAULT_SPAN_TTL_DAYS) if d is not None),
        DEFAULT_ROLLUP_TTL_DAYS if rollup_ttl_days is None else rollup_ttl_days,
        cluster,
        _tables(migrations),
    )
    for template in _BOOTSTRAP:
        for statement in renderer.statements(template):
            _run(client, statement, "bootstrap")
    applied = _applied(client, database)
    for migration in migrations:
        if migration.name in applied and applied[migration.name] != migration.checksum:
            raise StoreError(
                f"migration {migration.path} was changed after it was applied to database {database!r}; "
                "applied migrations are immutable: restore the file and put the change in a new numbered file"
            )
    done = []
    server_settings: frozenset[str] | None = None
    for migration in migrations:
        if migration.name in applied:
            continue
        for statement in renderer.statements(migration.template, migration.name):
            tuning = _MODIFY_SETTING.match(" ".join(statement.split()))
            if tuning:
                server_settings = server_settings or _merge_tree_settings(client)
                if tuning.group(1) not in server_settings:
                    continue
            _run(client, statement, migration.name)
        client.insert(
            MIGRATIONS_TABLE,
            [[migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=["name", "checksum", "applied_at"],
            database=database,
        )
        done.append(migration.name)
    explicit = {"span_ttl_days": span_ttl_days, "rollup_ttl_days": rollup_ttl_days}
    _reconcile_ttls(client, database, migrations, explicit, cluster)
    return done


def _check_ttls(*days: int | None) -> None:
    for value in days:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise StoreError(f"a TTL must be a whole number of days >= 0 (0 = keep forever), got {value!r}")


def _applied(client: Any, database: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, checksum FROM {db:Identifier}.{t:Identifier}",
        parameters={"db": database, "t": MIGRATIONS_TABLE},
    ).result_rows
    return {name: checksum for name, checksum in rows}


def _merge_tree_settings(client: Any) -> frozenset[str]:
    return frozenset(r[0] for r in client.query("SELECT name FROM system.merge_tree_settings").result_rows)


def _run(client: Any, statement: str, where: str) -> None:
    try:
        client.command(statement)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"migration {where} failed: {first}") from None


def _reconcile_ttls(
    client: Any,
    database: str,
    migrations: list[Migration],
    explicit: dict[str, int | None],
    cluster: str | None,
) -> None:
    """``ALTER TABLE ... MODIFY/REMOVE TTL`` where an explicitly given TTL differs from the table's."""
    for table, ttl_template in _ttl_templates(migrations):
        names = [n for n in TTL_PLACEHOLDERS if "{{" + n + "}}" in ttl_template]
        if not names or any(explicit[n] is None for n in names):
            continue
        values = {"database": database, "on_cluster": "", **explicit}
        wanted = None if any(explicit[n] == 0 for n in names) else render(ttl_template, values)
        target = f"{table}_local" if cluster else table
        if not _exists(client, database, target):
            continue  # a table a later migration replaced (0060's spans_rebuild)
        current = _current_ttl(client, database, target)
        if _norm(current) == _norm(wanted):
            continue
        on = cluster_ddl.on_cluster(cluster)
        action = "REMOVE TTL" if wanted is None else f"MODIFY TTL {wanted}"
        _run(client, f"ALTER TABLE {database}.{target} {on} {action}", f"TTL of {table}")


def _tables(migrations: list[Migration]) -> frozenset[str]:
    return frozenset(
        m.group(1) for migration in migrations for m in _CREATE_TABLE.finditer(migration.template)
    )


def _ttl_templates(migrations: list[Migration]) -> list[tuple[str, str]]:
    found = []
    for migration in migrations:
        for statement in split_statements(migration.template):
            table, ttl = _CREATE_TABLE.search(statement), _TTL_LINE.search(statement)
            if table and ttl:
                found.append((table.group(1), ttl.group(1).strip()))
    return found


def span_ttl_days(client: Any, database: str, cluster: str | None = None) -> int:
    """The `spans` table's TTL in days as the store has it now (0: kept forever)."""
    current = _current_ttl(client, database, "spans_local" if cluster else "spans")
    match = re.search(r"toIntervalDay\((\d+)\)", current or "")
    return int(match.group(1)) if match else 0


def _existing_span_ttl(client: Any, database: str, cluster: str | None) -> int | None:
    """The `spans` TTL of an existing store in days (0: kept forever), None before `spans` exists."""
    if not _exists(client, database, "spans_local" if cluster else "spans"):
        return None
    return span_ttl_days(client, database, cluster)


def _exists(client: Any, database: str, table: str) -> bool:
    return bool(
        client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": database, "t": table},
        ).result_rows[0][0]
    )


def _current_ttl(client: Any, database: str, table: str) -> str | None:
    rows = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    match = re.search(r"\bTTL (.+?)(?: SETTINGS |$)", rows[0][0]) if rows else None
    return match.group(1) if match else None


def _norm(expr: str | None) -> str | None:
    return None if expr is None else re.sub(r"\s+", "", expr)
