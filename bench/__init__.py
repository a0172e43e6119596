"""`make bench`: the join path measured end to end against the running platform, beside its ceilings."""
