from __future__ import annotations

import json

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from libs.core import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from libs.grpckit import Violations, status_for
from libs.grpckit.client import _retry_service_config
from libs.grpckit.interceptors import database_outage


def details_of(status: grpc.Status) -> status_pb2.Status:
    encoded = dict(status.trailing_metadata)["grpc-status-details-bin"]
    return status_pb2.Status.FromString(encoded)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound("no group g-1", reason="GROUP_NOT_FOUND"), grpc.StatusCode.NOT_FOUND),
        (PermissionDenied("other line", reason="LINE_MISMATCH"), grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_domain_errors_become_their_status_with_the_reason(error: NotFound, code: grpc.StatusCode) -> None:
    status = status_for(error)
    assert status.code == code
    info = error_details_pb2.ErrorInfo()
    assert details_of(status).details[0].Unpack(info)
    assert info.reason == error.reason


def test_field_violations_travel_as_bad_request() -> None:
    error = InvalidArgument("bad", violations=[FieldViolation("city", "is required")])
    bad_request = error_details_pb2.BadRequest()
    assert details_of(status_for(error)).details[1].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [("city", "is required")]


def test_violations_collects_every_problem_before_raising() -> None:
    problems = Violations()
    problems.text("name", "", max_length=10)
    problems.text("city", "x" * 11, max_length=10)
    problems.identifier("user_id", "abc")
    problems.number("size", 51, minimum=2, maximum=50)
    problems.enum("channel", 0, allowed={1, 2})
    with pytest.raises(InvalidArgument) as caught:
        problems.raise_if_any()
    assert [v.field for v in caught.value.violations] == ["name", "city", "user_id", "size", "channel"]


def test_valid_input_raises_nothing() -> None:
    problems = Violations()
    problems.text("name", "ok", max_length=10)
    problems.identifier("user_id", "00000000-0000-4000-8000-000000000000")
    problems.raise_if_any()


def test_retries_are_configured_only_for_the_named_idempotent_methods() -> None:
    config = json.loads(_retry_service_config(["pingou.catalog.v1.Catalog/GetSku", "pingou.x.v1.Reader"]))
    (method_config,) = config["methodConfig"]
    assert method_config["name"] == [
        {"service": "pingou.catalog.v1.Catalog", "method": "GetSku"},
        {"service": "pingou.x.v1.Reader"},
    ]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert json.loads(_retry_service_config([])) == {"methodConfig": []}


def test_an_app_with_an_unvalidated_method_refuses_to_start() -> None:
    from pingou.testkit.v1 import notes_pb2

    from libs.grpckit.server import GrpcApp, check_every_method_validated

    service = notes_pb2.DESCRIPTOR.services_by_name["NoteService"].full_name
    app = GrpcApp(
        name="notes",
        register=lambda server: None,
        service_names=[service],
        validators={f"/{service}/CreateNote": lambda request: None, f"/{service}/Echo": lambda request: None},
    )
    with pytest.raises(ValueError, match="GetNote"):
        check_every_method_validated(app)


def test_ids_must_be_canonical_uuids() -> None:
    problems = Violations()
    for value in ("{12345678-1234-4234-8234-123456789abc}", "12345678123442348234123456789abc"):
        problems.identifier("id", value)
    with pytest.raises(InvalidArgument) as caught:
        problems.raise_if_any()
    assert len(caught.value.violations) == 2


AWAY, CONFLICT = "DATABASE_UNAVAILABLE", "DATABASE_CONFLICT"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (asyncpg.CannotConnectNowError("the database system is shutting down"), AWAY),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), AWAY),
        (ConnectionRefusedError(111, "Connection refused"), AWAY),
        (asyncpg.InterfaceError("cannot call Transaction.rollback(): the underlying connection is closed"), AWAY),
        (asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"), AWAY),
        (asyncpg.DeadlockDetectedError("deadlock detected"), CONFLICT),
        (asyncpg.SerializationError("could not serialize access"), CONFLICT),
    ],
)
def test_a_database_away_or_a_lost_transaction_answers_unavailable(error: BaseException, reason: str) -> None:
    outage = database_outage(error)
    assert outage is not None
    assert (outage.status, outage.reason) == ("UNAVAILABLE", reason)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.DataError("invalid input for query argument $1"),
        asyncpg.UniqueViolationError("duplicate"),
        ValueError("bug"),
    ],
)
def test_what_is_the_request_or_the_code_is_not_an_outage(error: BaseException) -> None:
    assert database_outage(error) is None
