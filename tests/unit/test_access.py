"""The access rule of a method (libs.grpckit.access), on its own: the line, then the roles (or the user
themself, or the owner), then the named service callers; and the start checks that every method has one."""

from __future__ import annotations

import pytest
from pingou.common.v1 import common_pb2
from pingou.groupbuy.v1 import groupbuy_pb2 as gb
from pingou.segmentation.v1 import segmentation_pb2 as seg
from pingou.testkit.v1 import notes_pb2
from structlog.testing import capture_logs

from libs.auth import Principal, Role
from libs.core import BusinessLine, PermissionDenied
from libs.grpckit.access import ANY_ROLE, CALLERS_LINE, Access, Admitted, admitted_as_owner, line_field, user_line_of
from libs.grpckit.server import GrpcApp, check_every_method_authorized, named_callers
from libs.settings import ServiceNames, ServiceSettings

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
OPERATORS = frozenset({Role.OPERATOR, Role.SERVICE})


def caller(*roles: Role, subject: str = "someone", line: BusinessLine = PINGOU) -> Principal:
    return Principal(subject=subject, line=line, roles=frozenset(roles))


def reason(rule: Access, principal: Principal, request: object, callers: frozenset[str] = frozenset()) -> str:
    with pytest.raises(PermissionDenied) as caught:
        rule.authorize(principal, request, callers=callers, method="Call")
    return caught.value.reason


def test_the_line_is_checked_before_the_roles_and_logged() -> None:
    rule = Access(roles=frozenset({Role.OPERATOR}), line=user_line_of("buyer.user_id"))
    request = gb.OpenGroupRequest(buyer=gb.Buyer(user_id="mu_1000001"))
    with capture_logs() as logs:
        assert reason(rule, caller(Role.USER, line=PINGOU), request) == "LINE_MISMATCH"
    assert [line["event"] for line in logs] == ["cross_line_access_denied"]
    assert rule.authorize(caller(Role.OPERATOR, line=MALL), request, callers=frozenset(), method="Call") is False


def test_a_user_may_call_for_themself_only_where_the_rule_names_the_field() -> None:
    rule = Access(roles=OPERATORS, self_field="user_id", line=user_line_of("user_id"))
    me = seg.GetUserRequest(user_id="pu_1000001")
    assert rule.authorize(caller(Role.USER, subject="pu_1000001"), me, callers=frozenset(), method="Call") is False
    assert reason(rule, caller(Role.USER, subject="pu_1000002"), me) == "ROLE_REQUIRED"
    assert reason(rule, caller(Role.MERCHANT, subject="pu_1000001"), me) == "ROLE_REQUIRED"
    without_self = Access(roles=OPERATORS, line=user_line_of("user_id"))
    assert reason(without_self, caller(Role.USER, subject="pu_1000001"), me) == "ROLE_REQUIRED"


def test_the_owner_is_let_in_as_the_owner_and_others_not_at_all() -> None:
    rule = Access(roles=frozenset({Role.OPERATOR}), owner=Role.MERCHANT, line=CALLERS_LINE)
    request = notes_pb2.GetNoteRequest()
    assert rule.authorize(caller(Role.MERCHANT), request, callers=frozenset(), method="Call") is True
    assert rule.authorize(caller(Role.OPERATOR, Role.MERCHANT), request, callers=frozenset(), method="Call") is False
    assert reason(rule, caller(Role.USER), request) == "ROLE_REQUIRED"


def test_named_callers_bind_services_only() -> None:
    rule = Access(roles=OPERATORS, line=line_field("line"), callers="registry_callers")
    request = seg.ListSegmentsRequest(line=common_pb2.BUSINESS_LINE_PINGOU)
    accounts = frozenset({"accounts"})
    assert rule.authorize(caller(Role.SERVICE, subject="accounts"), request, callers=accounts, method="Call") is False
    assert rule.authorize(caller(Role.OPERATOR, subject="ops"), request, callers=accounts, method="Call") is False
    assert reason(rule, caller(Role.SERVICE, subject="order"), request, accounts) == "CALLER_NOT_ALLOWED"


def test_any_role_still_needs_a_role() -> None:
    rule = Access(roles=ANY_ROLE, line=CALLERS_LINE)
    assert reason(rule, caller(), notes_pb2.GetNoteRequest()) == "ROLE_REQUIRED"


def test_a_handler_called_without_a_rule_fails_closed() -> None:
    with pytest.raises(RuntimeError):
        admitted_as_owner()
    with Admitted(True):
        assert admitted_as_owner() is True


NOTES = notes_pb2.DESCRIPTOR.services_by_name["NoteService"].full_name


def notes_app(access: dict[str, Access]) -> GrpcApp:
    return GrpcApp(name="notes", register=lambda server: None, service_names=[NOTES], access=access)


def test_an_app_with_a_method_without_an_access_rule_refuses_to_start() -> None:
    rule = Access(roles=ANY_ROLE, line=CALLERS_LINE)
    app = notes_app({f"/{NOTES}/CreateNote": rule, f"/{NOTES}/Echo": rule})
    with pytest.raises(ValueError, match="GetNote"):
        check_every_method_authorized(app)


class NotesSettings(ServiceSettings):
    note_callers: ServiceNames = frozenset({"accounts"})


def test_callers_are_read_from_the_setting_the_rule_names_and_must_be_one() -> None:
    settings = NotesSettings.model_construct(service_name="notes")
    named = Access(roles=ANY_ROLE, line=CALLERS_LINE, callers="note_callers")
    assert named_callers(notes_app({f"/{NOTES}/Echo": named}), settings) == {"note_callers": frozenset({"accounts"})}
    unknown = Access(roles=ANY_ROLE, line=CALLERS_LINE, callers="echo_callers")
    with pytest.raises(ValueError, match="echo_callers"):
        named_callers(notes_app({f"/{NOTES}/Echo": unknown}), settings)
