"""Every foreign key has an index on its referencing columns.

Without one, deleting a referenced row (a purge of old passes, a student deleted on
request) scans the whole referencing table once per deleted row: a 30-day purge across a
district took hours, and a nightly purge never finished. The migrations build exactly the
models' schema (test_migrations), so checking the models checks the databases.
"""

from shared.extensions import db


def _leading_columns(table) -> list[list[str]]:
    """Column lists that an index, a unique constraint or the primary key leads with."""
    keys = [[column.name for column in index.columns] for index in table.indexes]
    keys += [
        [column.name for column in constraint.columns]
        for constraint in table.constraints
        if constraint.__class__.__name__ in ("UniqueConstraint", "PrimaryKeyConstraint")
    ]
    return keys


def test_every_foreign_key_leads_an_index(app):
    unindexed = []
    for table in db.metadata.sorted_tables:
        keys = _leading_columns(table)
        for foreign_key in table.foreign_key_constraints:
            columns = [column.name for column in foreign_key.columns]
            if not any(key[: len(columns)] == columns for key in keys):
                unindexed.append(f"{table.name}({', '.join(columns)})")
    assert unindexed == []
