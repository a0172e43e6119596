"""libs.jobs without a database: whose fault an error is (the row's own, or the infrastructure's), and the
loop that retries a failed batch after a pause growing while the failures go on."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest
from asyncpg.exceptions._base import DataError as ArgumentError
from prometheus_client import REGISTRY

from libs.core import Aborted, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from libs.jobs import Job, is_infrastructure, run_batches


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="from a called service")


@pytest.mark.parametrize(
    "error",
    [
        NotFound("segmentation has no account pu_x", reason="USER_NOT_FOUND"),
        FailedPrecondition("not listed", reason="NOT_LISTED"),
        InvalidArgument("bad id"),
        _rpc_error(grpc.StatusCode.NOT_FOUND),
        _rpc_error(grpc.StatusCode.FAILED_PRECONDITION),
        _rpc_error(grpc.StatusCode.INVALID_ARGUMENT),
        asyncpg.CheckViolationError("a constraint refused the row"),
        asyncpg.UniqueViolationError("a duplicate"),
        asyncpg.NumericValueOutOfRangeError("out of range"),
        asyncpg.RaiseError("refused by a trigger"),
        ArgumentError("invalid input for query argument $1"),
        TypeError("the row's data is not what the code reads"),
        KeyError("sku_id"),
    ],
    ids=repr,
)
def test_an_error_about_the_row_itself_is_the_rows_own(error: BaseException) -> None:
    assert not is_infrastructure(error)


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("segmentation did not answer", reason="SEGMENTATION_UNAVAILABLE"),
        Aborted("contended"),
        PermissionDenied("refused token"),
        _rpc_error(grpc.StatusCode.UNAVAILABLE),
        _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED),
        _rpc_error(grpc.StatusCode.UNAUTHENTICATED),
        _rpc_error(grpc.StatusCode.INTERNAL),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.InFailedSQLTransactionError("current transaction is aborted"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.LockNotAvailableError("could not obtain lock"),
        asyncpg.UndefinedTableError("relation job_set_aside does not exist"),
        asyncpg.InterfaceError("another operation is in progress"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
    ids=repr,
)
def test_an_error_any_row_would_meet_is_the_infrastructures(error: BaseException) -> None:
    assert is_infrastructure(error)


JOB = Job("tests", "loop")


async def test_a_failed_batch_is_tried_again_after_a_pause_that_grows_until_one_succeeds() -> None:
    pauses: list[float] = []

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    outcomes: list[BaseException | int] = [
        Unavailable("the database is away"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        KeyError("a bug outside any row"),
        10,  # a full batch: the next one at once
        3,  # less than a batch: one poll's pause
        Unavailable("away again"),  # the pause starts from one poll again
        asyncio.CancelledError(),  # the server stops
    ]
    calls = 0

    async def batch() -> int:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    failed_before = REGISTRY.get_sample_value("job_batches_failed_total", {"service": "tests", "job": "loop"}) or 0.0
    with pytest.raises(asyncio.CancelledError):
        await run_batches(batch, job=JOB, batch_size=10, poll_seconds=0.5, max_pause=1.5, sleep=no_wait)

    assert calls == len(outcomes)
    assert pauses == [0.5, 1.0, 1.5, 0.5, 0.5]
    failed = REGISTRY.get_sample_value("job_batches_failed_total", {"service": "tests", "job": "loop"})
    assert failed == failed_before + 4


def test_a_job_name_is_checked_once() -> None:
    assert str(Job("groupbuy", "identity_check")) == "groupbuy.identity_check"
    with pytest.raises(ValueError, match="not a job name"):
        Job("groupbuy", "identity check'; --")
