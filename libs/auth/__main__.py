"""Local key and token tool for development and tests.

python -m libs.auth keys --folder .data/dev/keys --identity groupbuy --identity payments ...
python -m libs.auth mint --keys .data/dev/keys --sub u-1 --line pingou --role user
python -m libs.auth mint --keys .data/dev/keys --sub payments --line mall --role service

`mint` signs with the key that may sign the token: the issuer key for people's roles, the service's own
key for the `service` role (so it mints only what the platform accepts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from libs.auth.local import LocalKeys
from libs.auth.principal import Role
from libs.core import BusinessLine


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.auth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="make the missing local keys and write the key set")
    keys.add_argument("--folder", type=Path, required=True)
    keys.add_argument("--identity", action="append", default=[], help="a service identity (repeat)")
    mint = commands.add_parser("mint", help="print a signed token")
    mint.add_argument("--keys", type=Path, required=True, help="the local keys folder")
    mint.add_argument("--sub", required=True)
    mint.add_argument("--line", required=True, choices=[line.value for line in BusinessLine])
    mint.add_argument("--role", action="append", choices=[role.value for role in Role], default=[])
    mint.add_argument("--ttl", type=int, default=3600, help="seconds")
    args = parser.parse_args()

    if args.command == "keys":
        print(LocalKeys.make(args.folder, args.identity).key_set_file)
        return
    roles = [Role(role) for role in args.role] or [Role.USER]
    try:
        token = LocalKeys(args.keys).mint(
            subject=args.sub, line=BusinessLine(args.line), roles=roles, ttl_seconds=args.ttl
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(token)


if __name__ == "__main__":
    main()
