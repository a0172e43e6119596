"""Who runs the cluster and where it can live. PostgreSQL refuses to run as root, so under root the
unprivileged postgres user (made when missing) runs it, and the cluster must live where that user can
reach: in the data folder, or, when a parent folder blocks the way (a clone under /root, mode 0700: CI's
case), in a fallback folder under /var/tmp whose parents root owns; postgres.location records which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from deploy.local.processes import InfraError, _run, _say, _write_atomically
from deploy.local.profiles import PG_FALLBACK_BASE, Layout, Profile, _fallback_pgdata, _has_cluster

PG_OS_USER: Final = "postgres"


def _ensure_pg_os_user() -> None:
    """Postgres refuses to run as root: as root, make sure the unprivileged user exists."""
    if os.geteuid() != 0:
        return  # an ordinary user runs the cluster as itself
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        _say(f"creating the system user {PG_OS_USER!r}")
        _run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_OS_USER,
            ],
            f"creating the system user {PG_OS_USER}",
        )


def _as_pg_user(command: Sequence[str]) -> list[str]:
    """The command as run by the postgres user when we are root (runuser execs, no shell)."""
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", PG_OS_USER, "--", *command]


def _give_to_pg_user(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(PG_OS_USER)
        os.chown(path, account.pw_uid, account.pw_gid)


def _place_cluster(layout: Layout, prof: Profile) -> Layout:
    """Decides, before the cluster exists, whether it goes in the data folder or, when the
    postgres user cannot reach that (a clone under /root, mode 0700), in the fallback folder.

    The choice is recorded in postgres.location (removed when the data folder is used), which
    _resolve reads, so down, status, clean and the next `up` find the same cluster.
    """
    if _has_cluster(layout.pgdata):  # placed by an earlier `up`
        if layout.pgdata != layout.default_pgdata and not layout.pg_location_file.exists():
            _write_atomically(layout.pg_location_file, f"{layout.pgdata}\n")  # it was lost
        return layout
    default = layout.default_pgdata
    if os.geteuid() != 0 or _pg_user_can_use_new_folder(default):
        layout.pg_location_file.unlink(missing_ok=True)
        return dataclasses.replace(layout, pgdata=default)
    fallback = _fallback_pgdata(layout.root, prof.name)
    _say(
        f"the {PG_OS_USER} user cannot reach {default} (a parent folder is not traversable for "
        f"it): the cluster goes in {fallback} instead"
    )
    _make_fallback_folder(fallback)
    _check_pg_user_can_write(fallback)
    _write_atomically(layout.pg_location_file, f"{fallback}\n")
    return dataclasses.replace(layout, pgdata=fallback)


def _pg_user_can_use_new_folder(pgdata: Path) -> bool:
    """Makes pgdata as _pg_init would and checks that the postgres user can write it; a folder
    made here in vain is removed again."""
    existed = pgdata.exists()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    _give_to_pg_user(pgdata)
    if _pg_user_can_write(pgdata):
        return True
    if not existed:
        with contextlib.suppress(OSError):
            pgdata.rmdir()
    return False


def _make_fallback_folder(pgdata: Path) -> None:
    """Creates the fallback cluster folder for the postgres user, under parents that root owns
    and only root can write (mode 0755): /var/tmp is world-writable, so a parent someone else
    made first is refused rather than trusted."""
    try:
        for path in (PG_FALLBACK_BASE, pgdata.parent.parent, pgdata.parent):
            path.mkdir(mode=0o755, exist_ok=True)
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
                raise InfraError(f"{path} is not a folder that root owns")
            path.chmod(0o755)  # mkdir's mode went through the umask
        pgdata.mkdir(mode=0o700, exist_ok=True)
        if not stat.S_ISDIR(pgdata.lstat().st_mode):
            raise InfraError(f"{pgdata} is not a folder")
        _give_to_pg_user(pgdata)
    except (OSError, InfraError) as err:
        raise InfraError(
            f"the {PG_OS_USER} user cannot reach the data folder, and the fallback folder "
            f"{pgdata} cannot be made ({err}); set PINGOU_DATA_DIR to a folder it can reach "
            "(e.g. under /var/tmp)"
        ) from err


def _pg_user_can_write(folder: Path) -> bool:
    """Whether the postgres user can enter and write the folder (which needs every parent
    traversable); an ordinary user runs the cluster as itself, so for it always true."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(_as_pg_user(["test", "-w", str(folder), "-a", "-x", str(folder)]), cwd="/", check=False)
    return probe.returncode == 0


def _check_pg_user_can_write(folder: Path) -> None:
    """Fails early and clearly when a parent folder (say /root, mode 0700) blocks the user."""
    if not _pg_user_can_write(folder):
        raise InfraError(
            f"the {PG_OS_USER} user cannot write {folder}: a parent folder is not traversable "
            "for it; set PINGOU_DATA_DIR to a folder it can reach (e.g. under /var/tmp)"
        )
