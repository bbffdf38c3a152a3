"""The state store: what was read from each folder and what was published where (SQLite)."""
