"""The profile's own single-node Kafka broker (KRaft): its jars, fetched once per machine from Maven Central
through deploy/local/kafka/pom.xml, its server.properties and formatted storage, and the detached JVM that
runs it, recorded by a pid file so that `down` stops only the broker this data folder started.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import string
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from deploy.local.probes import _probe_kafka, _require_free_port, _wait_until_ready
from deploy.local.processes import (
    _SPAWNED,
    InfraError,
    _process_alive,
    _rotate_log,
    _run,
    _run_sync,
    _say,
    _tool,
    _wait_for_exit,
)
from deploy.local.profiles import Layout, Profile, _file_lock, _local_bootstrap

KAFKA_FILES: Final = Path(__file__).resolve().parent / "kafka"
POM: Final = KAFKA_FILES / "pom.xml"
LOG4J: Final = KAFKA_FILES / "log4j.properties"
SERVER_TEMPLATE: Final = KAFKA_FILES / "server.properties.template"

KAFKA_READY_TIMEOUT_S: Final = 120.0
KAFKA_STOP_TIMEOUT_S: Final = 60.0


def _kafka_launch(prof: Profile, layout: Layout, *, keep_data: bool = False) -> int:
    """Returns the pid of this profile's broker, starting it (without waiting) if none runs."""
    pid = _kafka_pid(layout)
    if pid is not None:
        _say(f"Kafka already running (pid {pid}) on {_local_bootstrap(prof)}")
        return pid
    libs = _ensure_kafka_jars()
    _write_server_properties(prof, layout)
    _require_free_port(prof.kafka_port, "Kafka broker", layout)
    _require_free_port(prof.controller_port, "Kafka controller", layout)
    if not prof.durable and not keep_data:
        # A throwaway profile starts empty: every test module makes topics of its own, and a broker that
        # kept all of them from earlier runs starts slowly and needs ever more heap.
        shutil.rmtree(layout.kafka_data, ignore_errors=True)
    _kafka_format(layout, libs)
    pid = _kafka_spawn(layout, libs)
    _say(f"starting Kafka (pid {pid}) on {_local_bootstrap(prof)} (log: {layout.kafka_log})")
    return pid


def _kafka_wait(bootstrap: str, layout: Layout, broker_pid: int | None) -> None:
    if broker_pid is None:
        _say("KAFKA_BOOTSTRAP_SERVERS is set: checking that Kafka answers there (not starting one)")
        _run_sync(_wait_until_ready("Kafka at KAFKA_BOOTSTRAP_SERVERS", _probe_kafka, bootstrap))
        return
    _run_sync(
        _wait_until_ready(
            "Kafka",
            _probe_kafka,
            bootstrap,
            KAFKA_READY_TIMEOUT_S,
            log=layout.kafka_log,
            alive=lambda: _process_alive(broker_pid),
        )
    )


def _kafka_version() -> str:
    """The version pinned in pom.xml, the single source of truth; it also names the jar cache."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ElementTree.parse(POM).getroot()  # noqa: S314 -- our own file, not untrusted input
    node = pom.find("m:properties/m:kafka.version", namespace)
    if node is None or not node.text:
        raise InfraError(f"no <kafka.version> property in {POM}")
    return node.text.strip()


def _jar_cache() -> Path:
    """Per machine, not per clone: a fresh clone (CI's included) reuses the jars."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pingou-platform" / f"kafka-{_kafka_version()}"


def _ensure_kafka_jars() -> Path:
    """The folder of Kafka's runtime jars, fetched with Maven unless a complete copy exists."""
    cache = _jar_cache()
    libs, marker = cache / "libs", cache / "COMPLETE"
    # The marker holds the pom's digest and is written last: a half-finished download, or one
    # made from another dependency list, is redone.
    expected = hashlib.sha256(POM.read_bytes()).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / ".lock", f"the Kafka jar cache {cache}"):
        if marker.exists() and marker.read_text().strip() == expected:
            return libs
        _say(f"fetching the Kafka {_kafka_version()} jars from Maven Central into {libs}")
        marker.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        _run(
            [
                _tool("mvn", "maven"),
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            "fetching the Kafka jars with Maven",
        )
        marker.write_text(expected + "\n")
    return libs


def _write_server_properties(prof: Profile, layout: Layout) -> None:
    template = string.Template(SERVER_TEMPLATE.read_text())
    text = template.substitute(
        broker_port=prof.kafka_port,
        controller_port=prof.controller_port,
        log_dir=layout.kafka_data,
    )
    layout.server_properties.write_text(text)


def _java(libs: Path, main_class: str, *args: str, jvm_options: Sequence[str] = ()) -> list[str]:
    # The JVM expands a classpath entry ending in '*' itself (a shell must not: no shell here).
    return [
        _tool("java", "openjdk-17-jre-headless"),
        *jvm_options,
        f"-Dlog4j.configuration={LOG4J.as_uri()}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def _kafka_format(layout: Layout, libs: Path) -> None:
    """Formats log.dirs once (KRaft needs a cluster id there before the first start)."""
    if (layout.kafka_data / "meta.properties").exists():
        return
    _say(f"formatting Kafka storage in {layout.kafka_data}")
    command = _java(
        libs,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _kafka_cluster_id(layout, libs),
        "-c",
        str(layout.server_properties),
        "--ignore-formatted",
    )
    _run(command, "formatting Kafka storage (kafka.tools.StorageTool format)")


def _kafka_cluster_id(layout: Layout, libs: Path) -> str:
    """Generated once and remembered, so a re-format of the same folder keeps its identity."""
    if layout.cluster_id_file.exists():
        return layout.cluster_id_file.read_text().strip()
    output = _run(_java(libs, "kafka.tools.StorageTool", "random-uuid"), "generating a cluster id")
    cluster_id = output.strip().splitlines()[-1].strip()
    layout.cluster_id_file.write_text(cluster_id + "\n")
    return cluster_id


def _kafka_spawn(layout: Layout, libs: Path) -> int:
    """Starts the broker detached from us and records its pid.

    A new session keeps a terminal's Ctrl-C away from the broker, which is meant to outlive us.
    """
    command = _java(
        libs,
        "kafka.Kafka",
        str(layout.server_properties),
        # 1 GiB: a test broker holds every test module's topics (thousands of partitions) until it stops;
        # at 512 MiB a long-lived one ran out of heap.
        jvm_options=["-Xms256m", "-Xmx1g", "-Djava.awt.headless=true"],
    )
    _rotate_log(layout.kafka_log)
    with layout.kafka_log.open("ab") as log:
        # The log is appended across restarts: mark where this run begins.
        log.write(f"==== infra: starting Kafka at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        broker = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.kafka,  # where a JVM crash report (hs_err_pid*.log) lands
            start_new_session=True,
        )
    # A Popen object garbage-collected while its process runs warns "subprocess is still
    # running"; keeping it referenced avoids that when up() runs inside a test process.
    _SPAWNED.append(broker)
    layout.kafka_pid_file.write_text(f"{broker.pid}\n")
    return broker.pid


def _kafka_pid(layout: Layout) -> int | None:
    """The pid of the broker this folder started, or None; a stale pid file is removed."""
    try:
        pid = int(layout.kafka_pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        pid = 0  # a damaged file: treat as stale
    if pid > 0 and _process_alive(pid) and _is_our_broker(pid, layout):
        return pid
    layout.kafka_pid_file.unlink(missing_ok=True)
    return None


def _is_our_broker(pid: int, layout: Layout) -> bool:
    """After a SIGKILL or a reboot the pid may belong to another process: check its command."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in args and str(layout.server_properties).encode() in args


def _kafka_stop(layout: Layout) -> None:
    pid = _kafka_pid(layout)
    if pid is None:
        return
    _say(f"stopping Kafka (pid {pid})")
    os.kill(pid, signal.SIGTERM)  # the broker shuts down cleanly on SIGTERM
    if not _wait_for_exit(pid, KAFKA_STOP_TIMEOUT_S):
        _say(f"Kafka did not stop within {KAFKA_STOP_TIMEOUT_S:.0f} s: killing it")
        os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid, 10.0)
    layout.kafka_pid_file.unlink(missing_ok=True)
