"""blocked tag numbers and lost tags

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 07:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('blocked_tag_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('tag_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('tag_number >= 1', name=op.f('ck_blocked_tag_numbers_tag_number')),
    sa.ForeignKeyConstraint(['blocked_by_id'], ['users.id'], name=op.f('fk_blocked_tag_numbers_blocked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_blocked_tag_numbers_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocked_tag_numbers')),
    sa.UniqueConstraint('school_id', 'tag_number', name=op.f('uq_blocked_tag_numbers_school_id_tag_number'))
    )
    with op.batch_alter_table('hang_tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():

    with op.batch_alter_table('hang_tags', schema=None) as batch_op:
        batch_op.drop_column('lost')

    op.drop_table('blocked_tag_numbers')
