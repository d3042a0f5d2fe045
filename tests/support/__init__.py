"""Test support shared across the test tree: real services started for tests (PostgreSQL, ...)."""
