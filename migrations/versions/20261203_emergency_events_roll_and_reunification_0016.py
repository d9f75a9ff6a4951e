"""emergency events, roll marks, client keys, reunification requests and releases, families' release notes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 11:53:48.630680

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
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
        batch_op.create_index(batch_op.f('ix_emergency_events_started_by_id'), ['started_by_id'], unique=False)
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
    op.create_table('reunification_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('group_key', sa.String(length=40), nullable=False),
    sa.Column('adult_name', sa.String(length=200), nullable=False),
    sa.Column('relationship_to_student', sa.String(length=100), nullable=False),
    sa.Column('id_check', sa.String(length=100), nullable=False),
    sa.Column('listed_as', sa.String(length=200), nullable=True),
    sa.Column('override_reason', sa.String(length=500), nullable=True),
    sa.Column('override_by_label', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('refusal', sa.String(length=500), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by_label', sa.String(length=254), nullable=False),
    sa.CheckConstraint("status IN ('waiting', 'released', 'refused')", name=op.f('ck_reunification_requests_status')),
    sa.ForeignKeyConstraint(['event_id'], ['emergency_events.id'], name=op.f('fk_reunification_requests_event_id_emergency_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_reunification_requests_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reunification_requests'))
    )
    with op.batch_alter_table('reunification_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reunification_requests_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reunification_requests_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_reunification_requests_one_waiting_per_student', ['event_id', 'student_id'], unique=True, sqlite_where=sa.text("status = 'waiting'"), postgresql_where=sa.text("status = 'waiting'"))

    op.create_table('emergency_releases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by_label', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['emergency_events.id'], name=op.f('fk_emergency_releases_event_id_emergency_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['reunification_requests.id'], name=op.f('fk_emergency_releases_request_id_reunification_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_emergency_releases_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_releases')),
    sa.UniqueConstraint('event_id', 'student_id', name=op.f('uq_emergency_releases_event_id_student_id'))
    )
    with op.batch_alter_table('emergency_releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_releases_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_releases_student_id'), ['student_id'], unique=False)

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
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_marked_by_id'), ['marked_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_roll_marks_student_id'), ['student_id'], unique=False)

    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_note', sa.Text(), server_default='', nullable=False))



def downgrade():
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_column('release_note')

    with op.batch_alter_table('emergency_roll_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_student_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_marked_by_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_event_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_roll_marks_class_id'))

    op.drop_table('emergency_roll_marks')
    with op.batch_alter_table('emergency_releases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_releases_student_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_releases_request_id'))

    op.drop_table('emergency_releases')
    with op.batch_alter_table('reunification_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_reunification_requests_one_waiting_per_student', sqlite_where=sa.text("status = 'waiting'"), postgresql_where=sa.text("status = 'waiting'"))
        batch_op.drop_index(batch_op.f('ix_reunification_requests_student_id'))
        batch_op.drop_index(batch_op.f('ix_reunification_requests_event_id'))

    op.drop_table('reunification_requests')
    op.drop_table('emergency_receipts')
    with op.batch_alter_table('emergency_events', schema=None) as batch_op:
        batch_op.drop_index('uq_emergency_events_one_running_per_school', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_emergency_events_started_by_id'))
        batch_op.drop_index('ix_emergency_events_school_id_started_at')

    op.drop_table('emergency_events')
