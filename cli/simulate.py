"""`pingou simulate`: the group-buying day simulator (package `simulator/`), imported only when asked
for, so the CLI works in a checkout or image without it. Its arguments are passed on as they are."""

from __future__ import annotations

import importlib

import typer

ENTRY = "simulator.run"


def simulate(context: typer.Context) -> None:
    """Run the group-buying day simulator against the platform (arguments: `pingou simulate --help`)."""
    try:
        entry = importlib.import_module(ENTRY)
    except ModuleNotFoundError as error:
        if error.name is None or not f"{ENTRY}.".startswith(f"{error.name}."):
            raise  # the simulator is there but one of its own imports is missing: a bug to see whole
        typer.echo(f"error: the simulator is not part of this checkout (no module {error.name})", err=True)
        raise typer.Exit(1) from None
    code = entry.main(list(context.args))
    raise typer.Exit(int(code or 0))
