"""dismissals keep their late pickups when they end

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('dismissals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_pickups', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_by_reason', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('dismissals', schema=None) as batch_op:
        batch_op.drop_column('late_by_reason')
        batch_op.drop_column('late_pickups')
