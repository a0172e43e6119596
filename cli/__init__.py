"""`pingou`, the operator CLI over the platform's gRPC APIs (issue 12): catalog, groups, orders, PLUS,
users and segments, the KPI report, the platform's health and the simulator. `cli.main` is the app."""
