"""guardian sign-in links and sessions; who made a change, an absence, an announcement

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 11:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

ONE_OWNER = (
    "(purpose = 'family' AND guardian_id IS NOT NULL AND user_id IS NULL) "
    "OR (purpose != 'family' AND user_id IS NOT NULL AND guardian_id IS NULL)"
)


def upgrade():
    op.create_table('guardian_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_guardian_sessions_guardian_id_guardians'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_guardian_sessions_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardian_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_guardian_sessions_token_hash'))
    )
    with op.batch_alter_table('guardian_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_sessions_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardian_sessions_school_id'), ['school_id'], unique=False)

    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_guardian_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), server_default='', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_absences_created_by_guardian_id_guardians'), 'guardians', ['created_by_guardian_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_absences_created_by_guardian_id'), ['created_by_guardian_id'], unique=False)

    with op.batch_alter_table('account_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guardian_id', sa.Integer(), nullable=True))
        batch_op.alter_column('user_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_account_links_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_account_links_guardian_id_guardians'), 'guardians', ['guardian_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_constraint(batch_op.f('ck_account_links_purpose'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_account_links_purpose'), "purpose IN ('invite', 'reset', 'family')")
        batch_op.create_check_constraint(batch_op.f('ck_account_links_one_owner'), ONE_OWNER)

    with op.batch_alter_table('dismissal_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_guardian_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_dismissal_changes_created_by_guardian_id_guardians'), 'guardians', ['created_by_guardian_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_dismissal_changes_created_by_guardian_id'), ['created_by_guardian_id'], unique=False)

    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guardian_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_mail_outbox_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_mail_outbox_guardian_id_guardians'), 'guardians', ['guardian_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('queue_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announced_by_guardian_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_queue_entries_announced_by_guardian_id_guardians'), 'guardians', ['announced_by_guardian_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_queue_entries_announced_by_guardian_id'), ['announced_by_guardian_id'], unique=False)



def downgrade():
    with op.batch_alter_table('queue_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_entries_announced_by_guardian_id'))
        batch_op.drop_constraint(batch_op.f('fk_queue_entries_announced_by_guardian_id_guardians'), type_='foreignkey')
        batch_op.drop_column('announced_by_guardian_id')

    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_mail_outbox_guardian_id_guardians'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_mail_outbox_guardian_id'))
        batch_op.drop_column('guardian_id')

    with op.batch_alter_table('dismissal_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dismissal_changes_created_by_guardian_id'))
        batch_op.drop_constraint(batch_op.f('fk_dismissal_changes_created_by_guardian_id_guardians'), type_='foreignkey')
        batch_op.drop_column('created_by_guardian_id')

    op.execute("DELETE FROM account_links WHERE purpose = 'family'")
    with op.batch_alter_table('account_links', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_account_links_one_owner'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_account_links_purpose'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_account_links_purpose'), "purpose IN ('invite', 'reset')")
        batch_op.drop_constraint(batch_op.f('fk_account_links_guardian_id_guardians'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_account_links_guardian_id'))
        batch_op.alter_column('user_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('guardian_id')

    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absences_created_by_guardian_id'))
        batch_op.drop_constraint(batch_op.f('fk_absences_created_by_guardian_id_guardians'), type_='foreignkey')
        batch_op.drop_column('note')
        batch_op.drop_column('created_by_guardian_id')

    with op.batch_alter_table('guardian_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_sessions_school_id'))
        batch_op.drop_index(batch_op.f('ix_guardian_sessions_guardian_id'))

    op.drop_table('guardian_sessions')
