"""PostgreSQL access: asyncpg pools bound to one schema, and versioned SQL migrations (yoyo).

Data that belongs to a business line lives in a schema of its own per line (`<service>_<line>`), so a
line's rows can never be read through the other line's pool by a missing WHERE clause.
"""

from libs.database.migrations import migrate, migrate_service, schema_name
from libs.database.pool import close_pools, create_line_pools, create_pool

__all__ = ["close_pools", "create_line_pools", "create_pool", "migrate", "migrate_service", "schema_name"]
