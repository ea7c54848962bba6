"""The one exception the store layer raises for problems a user can fix."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store that cannot be opened, migrated or written; the message is one line meant for users."""
