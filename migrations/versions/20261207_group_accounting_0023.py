"""when each group of an emergency was first fully accounted for

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 14:22:14.977086

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('emergency_group_accounted',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('accounted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_emergency_group_accounted_class_id_classes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['emergency_events.id'], name=op.f('fk_emergency_group_accounted_event_id_emergency_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_group_accounted')),
    sa.UniqueConstraint('event_id', 'class_id', name=op.f('uq_emergency_group_accounted_event_id_class_id'))
    )
    with op.batch_alter_table('emergency_group_accounted', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_group_accounted_class_id'), ['class_id'], unique=False)



def downgrade():
    with op.batch_alter_table('emergency_group_accounted', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_group_accounted_class_id'))

    op.drop_table('emergency_group_accounted')
