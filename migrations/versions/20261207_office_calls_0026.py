"""calls to the office: the office calls a student out of class

A table of its own, not a new pass source: the pass a call starts is the class
teacher's (their Send), and the call names it. Changing the CHECK constraint of
`hall_passes.source` would make SQLite recreate that table, and with foreign keys on
its drop would clear `pass_requests.pass_id`.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 14:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('office_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('destination_id', sa.Integer(), nullable=False),
    sa.Column('from_room_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bring_things', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('called_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('called', 'sent', 'arrived', 'not_here', 'cancelled')", name=op.f('ck_office_calls_status')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_office_calls_answered_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['called_by_id'], ['users.id'], name=op.f('fk_office_calls_called_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['destination_id'], ['destinations.id'], name=op.f('fk_office_calls_destination_id_destinations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_room_id'], ['rooms.id'], name=op.f('fk_office_calls_from_room_id_rooms'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pass_id'], ['hall_passes.id'], name=op.f('fk_office_calls_pass_id_hall_passes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_office_calls_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_office_calls_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_office_calls'))
    )
    with op.batch_alter_table('office_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_calls_answered_by_id'), ['answered_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_calls_called_by_id'), ['called_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_calls_destination_id'), ['destination_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_calls_from_room_id'), ['from_room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_calls_pass_id'), ['pass_id'], unique=False)
        batch_op.create_index('ix_office_calls_school_id_created_at', ['school_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_calls_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_office_calls_one_waiting_per_student', ['student_id'], unique=True, sqlite_where=sa.text("status = 'called'"), postgresql_where=sa.text("status = 'called'"))


def downgrade():
    with op.batch_alter_table('office_calls', schema=None) as batch_op:
        batch_op.drop_index('uq_office_calls_one_waiting_per_student', sqlite_where=sa.text("status = 'called'"), postgresql_where=sa.text("status = 'called'"))
        batch_op.drop_index(batch_op.f('ix_office_calls_student_id'))
        batch_op.drop_index('ix_office_calls_school_id_created_at')
        batch_op.drop_index(batch_op.f('ix_office_calls_pass_id'))
        batch_op.drop_index(batch_op.f('ix_office_calls_from_room_id'))
        batch_op.drop_index(batch_op.f('ix_office_calls_destination_id'))
        batch_op.drop_index(batch_op.f('ix_office_calls_called_by_id'))
        batch_op.drop_index(batch_op.f('ix_office_calls_answered_by_id'))

    op.drop_table('office_calls')
