"""Catalog and inventory: products shared by both lines, listings and stock per line. See README.md."""
