"""What a store's MergeTree tables set for one setting, read from the store itself."""

from __future__ import annotations

import re

from llmtrace.store import Store


def merge_tree_setting(store: Store, setting: str) -> dict[str, int | None]:
    """MergeTree table -> the integer value its DDL sets for ``setting``, None where ClickHouse's
    default applies. Read from ``system.tables``, so a table added without the setting shows."""
    pattern = re.compile(rf"\b{re.escape(setting)} = (\d+)")
    rows = store.client.query(
        "SELECT name, create_table_query FROM system.tables"
        " WHERE database = {db:String} AND engine LIKE '%MergeTree'",
        parameters={"db": store.database},
    ).result_rows
    return {name: int(m.group(1)) if (m := pattern.search(query)) else None for name, query in rows}
