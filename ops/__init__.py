"""What the operator's tools over a running platform share (`make bench`, `make demo`): the platform they
run against (`platform.py`) and what they read from its databases (`checks.py`). No service imports it."""
