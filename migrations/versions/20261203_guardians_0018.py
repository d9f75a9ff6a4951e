"""guardians of families: who may pick up, how to reach them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 11:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('guardians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('mobile', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('relationship', sa.String(length=60), nullable=False),
    sa.Column('may_pick_up', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("language IN ('en', 'es')", name=op.f('ck_guardians_language')),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_guardians_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_guardians_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardians'))
    )
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.create_index('ix_guardians_email', ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardians_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardians_school_id'), ['school_id'], unique=False)
        batch_op.create_index('uq_guardians_family_id_email', ['family_id', 'email'], unique=True, sqlite_where=sa.text('email IS NOT NULL'), postgresql_where=sa.text('email IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_index('uq_guardians_family_id_email', sqlite_where=sa.text('email IS NOT NULL'), postgresql_where=sa.text('email IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_guardians_school_id'))
        batch_op.drop_index(batch_op.f('ix_guardians_family_id'))
        batch_op.drop_index('ix_guardians_email')

    op.drop_table('guardians')
