"""Relational storage: SQLAlchemy models, engine and unit of work (SQLite or PostgreSQL)."""
