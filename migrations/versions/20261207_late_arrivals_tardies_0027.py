"""late arrivals (tardies): one row per late arrival at the office, unique per student, day and arrival

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 14:25:31.913234

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tardies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('arrival', sa.Integer(), nullable=False),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=True),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('minutes_late', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("reason != 'other' OR note != ''", name=op.f('ck_tardies_other_has_note')),
    sa.CheckConstraint("reason IN ('late_bus', 'appointment', 'family', 'other')", name=op.f('ck_tardies_reason')),
    sa.CheckConstraint("source IN ('kiosk', 'office')", name=op.f('ck_tardies_source')),
    sa.CheckConstraint('arrival >= 1', name=op.f('ck_tardies_arrival_positive')),
    sa.CheckConstraint('minutes_late IS NULL OR minutes_late >= 0', name=op.f('ck_tardies_minutes_not_negative')),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_tardies_class_id_classes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_tardies_device_id_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_tardies_recorded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_tardies_room_id_rooms'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_tardies_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_tardies_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tardies')),
    sa.UniqueConstraint('student_id', 'day', 'arrival', name=op.f('uq_tardies_student_id_day_arrival'))
    )
    with op.batch_alter_table('tardies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tardies_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tardies_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tardies_recorded_by_id'), ['recorded_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tardies_room_id'), ['room_id'], unique=False)
        batch_op.create_index('ix_tardies_school_id_day', ['school_id', 'day'], unique=False)


def downgrade():
    with op.batch_alter_table('tardies', schema=None) as batch_op:
        batch_op.drop_index('ix_tardies_school_id_day')
        batch_op.drop_index(batch_op.f('ix_tardies_room_id'))
        batch_op.drop_index(batch_op.f('ix_tardies_recorded_by_id'))
        batch_op.drop_index(batch_op.f('ix_tardies_device_id'))
        batch_op.drop_index(batch_op.f('ix_tardies_class_id'))
    op.drop_table('tardies')
