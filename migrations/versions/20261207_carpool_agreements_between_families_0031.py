"""carpool agreements between two families of a school (one row per pair)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('carpool_agreements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('family_a_id', sa.Integer(), nullable=False),
    sa.Column('family_b_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_by_family_id', sa.Integer(), nullable=True),
    sa.Column('proposed_by_guardian_id', sa.Integer(), nullable=True),
    sa.Column('set_up_by_id', sa.Integer(), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status != 'pending' OR proposed_by_family_id IS NOT NULL", name=op.f('ck_carpool_agreements_pending_proposer')),
    sa.CheckConstraint("status IN ('pending', 'active', 'ended')", name=op.f('ck_carpool_agreements_status')),
    sa.CheckConstraint('family_a_id < family_b_id', name=op.f('ck_carpool_agreements_pair_order')),
    sa.CheckConstraint('proposed_by_family_id IS NULL OR proposed_by_family_id = family_a_id OR proposed_by_family_id = family_b_id', name=op.f('ck_carpool_agreements_proposer_in_pair')),
    sa.ForeignKeyConstraint(['family_a_id'], ['families.id'], name=op.f('fk_carpool_agreements_family_a_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['family_b_id'], ['families.id'], name=op.f('fk_carpool_agreements_family_b_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposed_by_family_id'], ['families.id'], name=op.f('fk_carpool_agreements_proposed_by_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposed_by_guardian_id'], ['guardians.id'], name=op.f('fk_carpool_agreements_proposed_by_guardian_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_carpool_agreements_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_up_by_id'], ['users.id'], name=op.f('fk_carpool_agreements_set_up_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carpool_agreements')),
    sa.UniqueConstraint('family_a_id', 'family_b_id', name=op.f('uq_carpool_agreements_family_a_id_family_b_id'))
    )
    with op.batch_alter_table('carpool_agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carpool_agreements_family_b_id'), ['family_b_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carpool_agreements_proposed_by_family_id'), ['proposed_by_family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carpool_agreements_proposed_by_guardian_id'), ['proposed_by_guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carpool_agreements_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carpool_agreements_set_up_by_id'), ['set_up_by_id'], unique=False)



def downgrade():
    with op.batch_alter_table('carpool_agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carpool_agreements_set_up_by_id'))
        batch_op.drop_index(batch_op.f('ix_carpool_agreements_school_id'))
        batch_op.drop_index(batch_op.f('ix_carpool_agreements_proposed_by_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_carpool_agreements_proposed_by_family_id'))
        batch_op.drop_index(batch_op.f('ix_carpool_agreements_family_b_id'))

    op.drop_table('carpool_agreements')
