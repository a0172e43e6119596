"""Server reflection that also resolves methods, so `grpcurl describe <pkg>.<Service>.<Method>` and ghz's
`--reflect` (both ask `file_containing_symbol` for a method's full name) work against our servers.

The stock servicer answers that request with the pool's FindFileContainingSymbol, which knows top-level
symbols and the members of messages but not the methods of a service (upb, the installed backend), nor
oneofs (the pure-Python backend); it then answers NOT_FOUND. Everything else is left to the stock servicer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

SERVICE_NAME: str = reflection.SERVICE_NAME


class ReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]  # grpc_reflection ships no type stubs
    # The stock servicer's own hook for this one request kind: every other request stays as it was. The
    # tests in tests/integration/test_reflection.py fail if a grpcio-reflection upgrade renames it.
    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        response = super()._file_containing_symbol(request, fully_qualified_name)
        if response.HasField("error_response"):
            file = file_declaring_member(self._pool, fully_qualified_name)
            if file is not None:
                return self._file_by_filename(request, file.name)
        return response


def file_declaring_member(pool: DescriptorPool, name: str) -> FileDescriptor | None:
    """The file of a service method (`pkg.Service.Method`) or of a oneof (`pkg.Message.choice`), if any."""
    try:
        return pool.FindMethodByName(name).containing_service.file
    except KeyError:
        pass
    parent, _, member = name.rpartition(".")
    try:
        message = pool.FindMessageTypeByName(parent)
    except KeyError:
        return None
    return message.file if member in message.oneofs_by_name else None


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve grpc.reflection.v1alpha for these services and itself. The installed grpcio-reflection has no
    grpc.reflection.v1; grpcurl (and other clients built on grpcreflect's auto client) fall back to v1alpha
    when v1 answers UNIMPLEMENTED."""
    servicer = ReflectionServicer([*service_names, SERVICE_NAME])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
