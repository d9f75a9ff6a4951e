"""substitute assignments: a day's access to an absent teacher's rooms (passes and mails
they are named by keep their id)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('substitute_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('teacher_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('contact', sa.String(length=254), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_nonce', sa.String(length=64), nullable=True),
    sa.Column('session_token_hash', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_substitute_assignments_expires_after_created')),
    sa.CheckConstraint('length(name) > 0', name=op.f('ck_substitute_assignments_name_given')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_substitute_assignments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_substitute_assignments_revoked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_substitute_assignments_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['teacher_id'], ['users.id'], name=op.f('fk_substitute_assignments_teacher_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_substitute_assignments')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_substitute_assignments_code_hash')),
    sa.UniqueConstraint('session_token_hash', name=op.f('uq_substitute_assignments_session_token_hash'))
    )
    with op.batch_alter_table('substitute_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_substitute_assignments_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_substitute_assignments_revoked_by_id'), ['revoked_by_id'], unique=False)
        batch_op.create_index('ix_substitute_assignments_school_id_day', ['school_id', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_substitute_assignments_teacher_id'), ['teacher_id'], unique=False)

    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('substitute_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_hall_passes_substitute_id'), ['substitute_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_hall_passes_substitute_id_substitute_assignments'), 'substitute_assignments', ['substitute_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('substitute_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_mail_outbox_substitute_id'), ['substitute_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_mail_outbox_substitute_id_substitute_assignments'), 'substitute_assignments', ['substitute_id'], ['id'], ondelete='CASCADE')



def downgrade():
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_mail_outbox_substitute_id_substitute_assignments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_mail_outbox_substitute_id'))
        batch_op.drop_column('substitute_id')

    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_hall_passes_substitute_id_substitute_assignments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_hall_passes_substitute_id'))
        batch_op.drop_column('substitute_id')

    with op.batch_alter_table('substitute_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_substitute_assignments_teacher_id'))
        batch_op.drop_index('ix_substitute_assignments_school_id_day')
        batch_op.drop_index(batch_op.f('ix_substitute_assignments_revoked_by_id'))
        batch_op.drop_index(batch_op.f('ix_substitute_assignments_created_by_id'))

    op.drop_table('substitute_assignments')
