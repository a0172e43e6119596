"""The `pingou` app: global options, one command group per area, and the console script's entry (`run`).

    pingou [--profile dev|test] [--line pingou|mall] [--token T] [--json] COMMAND ...

Exit codes: 0 done, 1 refused or failed (`error: <STATUS> <REASON>: <message>` on stderr), 2 bad usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.catalog import listings, merchants, products, stock
from cli.connection import Profile, Session
from cli.groups import groups
from cli.kpi import kpi
from cli.membership import plus
from cli.orders import orders
from cli.segments import segments
from cli.simulate import simulate
from cli.status import status
from cli.users import users
from libs.core import BusinessLine

app = typer.Typer(
    name="pingou",
    help="Operate the pingou platform over its gRPC APIs: catalog, groups, orders, PLUS, users, segments, KPIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def options(
    context: typer.Context,
    profile: Annotated[Profile, typer.Option(help="the local platform whose keys mint tokens")] = Profile.DEV,
    line: Annotated[BusinessLine, typer.Option(help="the business line to act on")] = BusinessLine.PINGOU,
    token: Annotated[
        str | None,
        typer.Option(envvar="PINGOU_TOKEN", help="send this token instead of minting one", show_default=False),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            envvar="PINGOU_KEYS_DIR", help="the local keys folder (default: the profile's)", show_default=False
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print the API's answers as JSON, for scripts")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="deadline of each call, in seconds")] = 10.0,
) -> None:
    """Addresses are the local platform's (deploy/local/services.py); PINGOU_<SERVICE>_ADDRESS overrides one."""
    context.obj = Session(profile=profile, line=line, token=token, keys_dir=keys, json=json, timeout=timeout)


app.add_typer(merchants, name="merchants")
app.add_typer(products, name="products")
app.add_typer(listings, name="listings")
app.add_typer(stock, name="stock")
app.add_typer(users, name="users")
app.add_typer(groups, name="groups")
app.add_typer(orders, name="orders")
app.add_typer(plus, name="plus")
app.add_typer(segments, name="segments")
app.command("kpi")(kpi)
app.command("status")(status)
app.command(
    "simulate",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)(simulate)


def run() -> None:
    """The console script `pingou`."""
    app()
