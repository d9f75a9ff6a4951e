"""reunification requests and releases, families' release notes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 11:13:04.409463

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
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
        batch_op.create_index(batch_op.f('ix_emergency_releases_student_id'), ['student_id'], unique=False)

    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_note', sa.Text(), server_default='', nullable=False))



def downgrade():
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_column('release_note')

    with op.batch_alter_table('emergency_releases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_releases_student_id'))

    op.drop_table('emergency_releases')
    with op.batch_alter_table('reunification_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_reunification_requests_one_waiting_per_student', sqlite_where=sa.text("status = 'waiting'"), postgresql_where=sa.text("status = 'waiting'"))
        batch_op.drop_index(batch_op.f('ix_reunification_requests_student_id'))
        batch_op.drop_index(batch_op.f('ix_reunification_requests_event_id'))

    op.drop_table('reunification_requests')
