"""Local key and token tool for development and tests.

python -m libs.auth keygen --private .data/keys/jwt.key --public .data/keys/jwt.pub
python -m libs.auth mint --private .data/keys/jwt.key --sub u-1 --line pingou --role user
"""

from __future__ import annotations

import argparse
from pathlib import Path

from libs.auth.principal import Role
from libs.auth.tokens import TokenIssuer, generate_key_pair
from libs.core import BusinessLine


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.auth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new Ed25519 key pair unless one exists")
    keygen.add_argument("--private", type=Path, required=True)
    keygen.add_argument("--public", type=Path, required=True)
    mint = commands.add_parser("mint", help="print a signed token")
    mint.add_argument("--private", type=Path, required=True)
    mint.add_argument("--sub", required=True)
    mint.add_argument("--line", required=True, choices=[line.value for line in BusinessLine])
    mint.add_argument("--role", action="append", choices=[role.value for role in Role], default=[])
    mint.add_argument("--ttl", type=int, default=3600, help="seconds")
    args = parser.parse_args()

    if args.command == "keygen":
        if args.private.exists() and args.public.exists():
            return
        generate_key_pair(args.private, args.public)
        return
    issuer = TokenIssuer.from_file(args.private)
    roles = [Role(role) for role in args.role] or [Role.USER]
    print(issuer.mint(subject=args.sub, line=BusinessLine(args.line), roles=roles, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
