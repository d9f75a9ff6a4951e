"""guardians remember their OneRoster sourcedId, so a OneRoster import updates them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sourced_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_guardians_school_id_sourced_id'), ['school_id', 'sourced_id'])


def downgrade():
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_guardians_school_id_sourced_id'), type_='unique')
        batch_op.drop_column('sourced_id')
