"""User segmentation: per-line user registries, identity links across lines, city tiers, profiles built
from events, rule-based segments, and the new-to-company answer. See README.md beside this file."""
