"""What is kept on disk: the model registry and its bundles, backups, governance, audit and history."""
