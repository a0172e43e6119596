"""Who may call each segmentation RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. Registration, profiles and links are written by services named in REGISTRY_CALLERS (and
operators, and a user changing their own profile); links are read only by analytics and services;
segments are defined by operators and analysts and read by them and by services."""

from __future__ import annotations

from collections.abc import Mapping

from libs.auth import Role
from libs.grpckit.access import CALLERS_LINE, Access, line_field, user_line_of
from services.segmentation.entrypoints.validation import SERVICE

READERS = frozenset({Role.SERVICE, Role.OPERATOR, Role.ANALYTICS})
WRITERS = frozenset({Role.SERVICE, Role.OPERATOR})
SEGMENT_AUTHORS = frozenset({Role.OPERATOR, Role.ANALYTICS})
LINK_READERS = frozenset({Role.ANALYTICS, Role.SERVICE})
USER_LINE = user_line_of("user_id")
SEGMENT_LINE = line_field("line")
REGISTRY = "registry_callers"
READ_SEGMENTS = Access(roles=READERS, line=SEGMENT_LINE)

ACCESS: Mapping[str, Access] = {
    # An account is made on the caller's line, in its own id space.
    f"/{SERVICE}/RegisterUser": Access(roles=WRITERS, line=CALLERS_LINE, callers=REGISTRY),
    f"/{SERVICE}/GetUser": Access(roles=READERS, self_field="user_id", line=USER_LINE),
    f"/{SERVICE}/UpdateProfile": Access(roles=WRITERS, self_field="user_id", line=USER_LINE, callers=REGISTRY),
    f"/{SERVICE}/LinkIdentity": Access(roles=frozenset({Role.SERVICE}), line=USER_LINE, callers=REGISTRY),
    f"/{SERVICE}/GetLinkedAccounts": Access(roles=LINK_READERS, line=USER_LINE),
    f"/{SERVICE}/IsNewToCompany": Access(roles=frozenset({Role.SERVICE, Role.ANALYTICS}), line=USER_LINE),
    f"/{SERVICE}/DefineSegment": Access(roles=SEGMENT_AUTHORS, line=SEGMENT_LINE),
    f"/{SERVICE}/GetSegment": READ_SEGMENTS,
    f"/{SERVICE}/ListSegments": READ_SEGMENTS,
    f"/{SERVICE}/GetSegments": Access(roles=READERS, line=USER_LINE),
    f"/{SERVICE}/ListSegmentMembers": READ_SEGMENTS,
}
