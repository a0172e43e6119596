"""Helpers for integration and end-to-end tests: polling, reading topics, running the notes service."""
