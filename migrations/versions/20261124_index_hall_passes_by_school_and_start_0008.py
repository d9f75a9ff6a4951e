"""index hall passes by school and start

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 18:32:41.539764

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():

    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.create_index('ix_hall_passes_school_id_started_at', ['school_id', 'started_at'], unique=False)




def downgrade():

    with op.batch_alter_table('hall_passes', schema=None) as batch_op:
        batch_op.drop_index('ix_hall_passes_school_id_started_at')


