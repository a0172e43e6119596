"""Domain error -> gRPC status, in one place. The reason travels as google.rpc.ErrorInfo in the status
details (and field problems as google.rpc.BadRequest), so clients can branch on it without parsing text."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from libs.core import DomainError, InvalidArgument

ERROR_DOMAIN = "pingou.platform"


def status_for(error: DomainError) -> grpc.Status:
    code: grpc.StatusCode = grpc.StatusCode[error.status]
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))
    details = [info]
    if isinstance(error, InvalidArgument) and error.violations:
        bad_request = any_pb2.Any()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
        details.append(bad_request)
    proto = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    status: grpc.Status = rpc_status.to_status(proto)
    return status


def reason_of(error: grpc.aio.AioRpcError) -> str | None:
    """The ErrorInfo reason of a failed call, for clients and tests."""
    proto = rpc_status.from_call(error)
    if proto is None:
        return None
    for detail in proto.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return None
