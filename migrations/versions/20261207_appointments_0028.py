"""appointments: passes scheduled ahead by staff, released by the class teacher

A new table, a per-destination setting (appointments there skip the daily limit and the
no-pass windows), and "appointment" as a pass source: the CHECK constraint on
hall_passes.source is dropped and created again (SQLite recreates the table in batch
mode; PostgreSQL alters it in place).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

SOURCES = "source IN ('teacher', 'kiosk', 'room_qr', 'appointment')"
OLD_SOURCES = "source IN ('teacher', 'kiosk', 'room_qr')"


def upgrade():
    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('destination_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_by_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('series', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decline_reason', sa.Text(), nullable=True),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('scheduled', 'released', 'declined', 'cancelled', 'no_show')", name=op.f('ck_appointments_status')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_appointments_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['destination_id'], ['destinations.id'], name=op.f('fk_appointments_destination_id_destinations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pass_id'], ['hall_passes.id'], name=op.f('fk_appointments_pass_id_hall_passes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scheduled_by_id'], ['users.id'], name=op.f('fk_appointments_scheduled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_appointments_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_appointments_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('pass_id', name=op.f('uq_appointments_pass_id'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index('ix_appointments_school_id_day', ['school_id', 'day'], unique=False)
        batch_op.create_index('ix_appointments_student_id_day', ['student_id', 'day'], unique=False)
        batch_op.create_index('ix_appointments_scheduled_by_id_day', ['scheduled_by_id', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_destination_id'), ['destination_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_decided_by_id'), ['decided_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_series'), ['series'], unique=False)

    with op.batch_alter_table('destinations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appointments_skip_limits', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_hall_passes_source'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_hall_passes_source'), SOURCES)


def downgrade():
    # Passes released from appointments become teacher passes (the teacher tapped Release).
    op.execute("UPDATE hall_passes SET source = 'teacher' WHERE source = 'appointment'")
    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_hall_passes_source'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_hall_passes_source'), OLD_SOURCES)

    with op.batch_alter_table('destinations', schema=None) as batch_op:
        batch_op.drop_column('appointments_skip_limits')

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointments_series'))
        batch_op.drop_index(batch_op.f('ix_appointments_decided_by_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_destination_id'))
        batch_op.drop_index('ix_appointments_scheduled_by_id_day')
        batch_op.drop_index('ix_appointments_student_id_day')
        batch_op.drop_index('ix_appointments_school_id_day')

    op.drop_table('appointments')
