"""Alembic runs the migrations on the connection the app hands it (don_predictor.store.history.db._migrate), inside the
transaction that holds the migration lock."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
