"""Department users (条): a user's department code (role department: it and its sub-units; '' for the other
roles). Existing users get '' (the column's server default), so an old app database upgrades in place."""

import sqlalchemy as sa
from alembic import op

revision = "0003_user_department"
down_revision = "0002_supervisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cockpit_users") as batch:  # SQLite: batch mode (it cannot ALTER a column later)
        batch.add_column(sa.Column("department", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cockpit_users") as batch:
        batch.drop_column("department")
