"""emergency events, roll marks and their client keys

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 11:02:36.862456

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('emergency_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('started_by_label', sa.String(length=254), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by_label', sa.String(length=254), nullable=True),
    sa.Column('fully_accounted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('out_on_pass', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.CheckConstraint("kind IN ('evacuation', 'reverse_evacuation', 'shelter', 'early_release')", name=op.f('ck_emergency_events_kind')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_emergency_events_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_emergency_events_started_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_events'))
    )
    with op.batch_alter_table('emergency_events', schema=None) as batch_op:
        batch_op.create_index('ix_emergency_events_school_id_started_at', ['school_id', 'started_at'], unique=False)
        batch_op.create_index('uq_emergency_events_one_running_per_school', ['school_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))

    op.create_table('emergency_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['emergency_events.id'], name=op.f('fk_emergency_receipts_event_id_emergency_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_receipts')),
    sa.UniqueConstraint('event_id', 'key', name=op.f('uq_emergency_receipts_event_id_key'))
    )
    op.create_table('emergency_roll_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('with_staff', sa.String(length=200), nullable=True),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.Column('marked_by_label', sa.String(length=254), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('present', 'missing', 'injured', 'with_staff', 'released')", name=op.f('ck_emergency_roll_marks_status')),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_emergency_roll_marks_class_id_classes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['emergency_events.id'], name=op.f('fk_emergency_roll_marks_event_id_emergency_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['marked_by_id'], ['users.id'], name=op.f('fk_emergency_roll_marks_marked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_emergency_roll_marks_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_roll_marks')),
    sa.UniqueConstraint('event_id', 'student_id', name=op.f('uq_emergency_roll_marks_event_id_student_id'))
    )
    with op.batch_alter_table('emergency_roll_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_student_id'), ['student_id'], unique=False)



def downgrade():
    with op.batch_alter_table('emergency_roll_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_student_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_event_id'))

    op.drop_table('emergency_roll_marks')
    op.drop_table('emergency_receipts')
    with op.batch_alter_table('emergency_events', schema=None) as batch_op:
        batch_op.drop_index('uq_emergency_events_one_running_per_school', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_emergency_events_school_id_started_at')

    op.drop_table('emergency_events')
