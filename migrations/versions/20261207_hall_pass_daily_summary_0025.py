"""The daily summary of hall passes (closed days) and the triggers that forget a day
whenever a pass of it, the bell schedule or the school's time zone changes.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from hallpass.summary_models import (
    SUMMARY_FUNCTIONS_POSTGRESQL,
    SUMMARY_TRIGGER_NAMES,
    SUMMARY_TRIGGERS_POSTGRESQL,
    SUMMARY_TRIGGERS_SQLITE,
)
from shared.timeutil import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'hall_pass_summary_days',
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('starts_at', UTCDateTime(), nullable=False),
        sa.Column('ends_at', UTCDateTime(), nullable=False),
        sa.Column('built_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_hall_pass_summary_days_school_id_schools'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('school_id', 'day', name=op.f('pk_hall_pass_summary_days')),
    )
    with op.batch_alter_table('hall_pass_summary_days', schema=None) as batch_op:
        batch_op.create_index('ix_hall_pass_summary_days_school_id_ends_at', ['school_id', 'ends_at'], unique=False)
    op.create_table(
        'hall_pass_summaries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('destination_id', sa.Integer(), nullable=False),
        sa.Column('issued_by_id', sa.Integer(), nullable=True),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('hour', sa.Integer(), nullable=False),
        sa.Column('passes', sa.Integer(), nullable=False),
        sa.Column('minutes', sa.Float(), nullable=False),
        sa.Column('overdue', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['destination_id'], ['destinations.id'], name=op.f('fk_hall_pass_summaries_destination_id_destinations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_hall_pass_summaries_issued_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['school_id', 'day'], ['hall_pass_summary_days.school_id', 'hall_pass_summary_days.day'], name=op.f('fk_hall_pass_summaries_school_id_hall_pass_summary_days'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_hall_pass_summaries_student_id_students'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hall_pass_summaries')),
    )
    with op.batch_alter_table('hall_pass_summaries', schema=None) as batch_op:
        batch_op.create_index('ix_hall_pass_summaries_school_id_day', ['school_id', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_hall_pass_summaries_destination_id'), ['destination_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hall_pass_summaries_issued_by_id'), ['issued_by_id'], unique=False)
        batch_op.create_index('ix_hall_pass_summaries_student_id_day', ['student_id', 'day', 'destination_id', 'issued_by_id', 'period', 'hour', 'passes', 'minutes', 'overdue'], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in SUMMARY_TRIGGERS_SQLITE if dialect == 'sqlite' else SUMMARY_TRIGGERS_POSTGRESQL:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for name, table in SUMMARY_TRIGGER_NAMES[dialect]:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if table else ""))
    if dialect == 'postgresql':
        for name in SUMMARY_FUNCTIONS_POSTGRESQL:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table('hall_pass_summaries')
    op.drop_table('hall_pass_summary_days')
