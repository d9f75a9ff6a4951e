"""The report page's groups of each summarized day (a destination, an issuer, a period,
an hour: passes, minutes, overdue and a bitmap of its students) and the students' slots
in those bitmaps. Every summarized day is forgotten, so housekeeping summarizes it again
with its groups (until then the page reads those days from the passes).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 23:22:33.273793

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'hall_pass_summary_groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('grouping', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=32), nullable=True),
        sa.Column('passes', sa.Integer(), nullable=False),
        sa.Column('minutes', sa.Float(), nullable=False),
        sa.Column('overdue', sa.Integer(), nullable=False),
        sa.Column('students', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['school_id', 'day'], ['hall_pass_summary_days.school_id', 'hall_pass_summary_days.day'], name=op.f('fk_hall_pass_summary_groups_school_id_hall_pass_summary_days'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hall_pass_summary_groups')),
    )
    with op.batch_alter_table('hall_pass_summary_groups', schema=None) as batch_op:
        batch_op.create_index('ix_hall_pass_summary_groups_school_id_day', ['school_id', 'day'], unique=False)
    op.create_table(
        'hall_pass_summary_slots',
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_hall_pass_summary_slots_school_id_schools'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_hall_pass_summary_slots_student_id_students'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('student_id', name=op.f('pk_hall_pass_summary_slots')),
        sa.UniqueConstraint('school_id', 'slot', name=op.f('uq_hall_pass_summary_slots_school_id_slot')),
    )
    # Days summarized before have no groups: summarized again by housekeeping.
    op.execute("DELETE FROM hall_pass_summaries")
    op.execute("DELETE FROM hall_pass_summary_days")


def downgrade():
    op.drop_table('hall_pass_summary_slots')
    with op.batch_alter_table('hall_pass_summary_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_hall_pass_summary_groups_school_id_day')
    op.drop_table('hall_pass_summary_groups')
