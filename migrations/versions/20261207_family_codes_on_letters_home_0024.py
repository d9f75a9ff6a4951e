"""family codes on letters home (guardians without email), and which code started a session

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('family_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_family_codes_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_family_codes_guardian_id_guardians'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_family_codes_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_family_codes_code_hash'))
    )
    with op.batch_alter_table('family_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_codes_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_codes_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_codes_school_id'), ['school_id'], unique=False)
        batch_op.create_index('uq_family_codes_guardian_id_live', ['guardian_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    with op.batch_alter_table('guardian_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_code_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_guardian_sessions_family_code_id'), ['family_code_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_guardian_sessions_family_code_id_family_codes'), 'family_codes', ['family_code_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('guardian_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_guardian_sessions_family_code_id_family_codes'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_guardian_sessions_family_code_id'))
        batch_op.drop_column('family_code_id')

    with op.batch_alter_table('family_codes', schema=None) as batch_op:
        batch_op.drop_index('uq_family_codes_guardian_id_live', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_family_codes_school_id'))
        batch_op.drop_index(batch_op.f('ix_family_codes_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_family_codes_created_by_id'))

    op.drop_table('family_codes')
