"""What the CLI and the pages do with them: score, record, compare, batch, export, jobs, health, login, monitoring."""
