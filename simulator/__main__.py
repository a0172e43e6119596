"""python -m simulator: see simulator/run.py."""

from simulator.run import main

raise SystemExit(main())
