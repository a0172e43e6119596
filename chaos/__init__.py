"""`make chaos`: the platform under faults (process kills, broker and database restarts, a rolling restart)
and simulated load, with its invariants and every event's effect checked afterwards."""
