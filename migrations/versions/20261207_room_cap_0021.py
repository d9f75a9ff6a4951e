"""a cap on students out at once from one classroom

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hallpass_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room_cap', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('hallpass_policies', schema=None) as batch_op:
        batch_op.drop_column('room_cap')
