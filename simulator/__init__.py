"""The group-buying day simulator (`make demo`, `pingou simulate`; README.md, "The group-buying day"):
buyers of both lines, merchants and the payment provider playing a scaled day with a flash start against a
running platform, then the KPI table from analytics, a PNG chart, the seed's shapes and the invariants
across the databases.
Entry point: `simulator.run.main(argv) -> int`."""
