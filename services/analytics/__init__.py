"""Analytics: every event of both lines, read once, into facts of each line's own; live KPIs by minute, hour
and day over them, and the consumer's own progress. See README.md beside this file."""
