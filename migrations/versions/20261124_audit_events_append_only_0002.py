"""Audit events are append-only: a trigger refuses any UPDATE (SQLite and PostgreSQL).

audit events append only

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:51:31.466136

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


from shared.models import AUDIT_APPEND_ONLY_POSTGRESQL, AUDIT_APPEND_ONLY_SQLITE


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(AUDIT_APPEND_ONLY_SQLITE)
    elif dialect == "postgresql":
        op.execute(AUDIT_APPEND_ONLY_POSTGRESQL)


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_only" + (
        " ON audit_events" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
