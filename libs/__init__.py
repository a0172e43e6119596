"""Code shared by every service of the platform. Each subpackage is one library with its own tests."""
