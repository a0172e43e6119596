"""Who may call each catalog RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. Reference data, products and listings are for any role to read; operators edit any
product, a merchant only its own (checked by the servicer against the product); stock moves are for the
services named in LEASE_CALLERS and RESERVATION_CALLERS."""

from __future__ import annotations

from collections.abc import Mapping

from libs.auth import Role
from libs.grpckit.access import ANY_ROLE, CALLERS_LINE, Access, line_field
from services.catalog.entrypoints.validation import SERVICE

LINE = line_field("line")
READ_SHARED = Access(roles=ANY_ROLE, line=CALLERS_LINE)  # shared product data: the same for both lines
READ_LINE = Access(roles=ANY_ROLE, line=LINE)
EDIT_LISTING = Access(roles=frozenset({Role.OPERATOR}), owner=Role.MERCHANT, line=LINE)
RESERVATIONS = Access(roles=frozenset({Role.SERVICE}), line=LINE, callers="reservation_callers")
LEASES = Access(roles=frozenset({Role.SERVICE}), line=LINE, callers="lease_callers")

ACCESS: Mapping[str, Access] = {
    f"/{SERVICE}/ListBelts": READ_SHARED,
    f"/{SERVICE}/ListCategories": READ_SHARED,
    f"/{SERVICE}/ListMerchants": READ_SHARED,
    f"/{SERVICE}/CreateProduct": Access(roles=frozenset({Role.OPERATOR}), owner=Role.MERCHANT, line=CALLERS_LINE),
    f"/{SERVICE}/GetProducts": READ_SHARED,
    f"/{SERVICE}/UpsertListing": EDIT_LISTING,
    f"/{SERVICE}/RemoveListing": EDIT_LISTING,
    f"/{SERVICE}/GetListings": READ_LINE,
    f"/{SERVICE}/SearchListings": READ_LINE,
    f"/{SERVICE}/SetStock": Access(roles=frozenset({Role.OPERATOR}), line=LINE),
    f"/{SERVICE}/GetStock": READ_LINE,
    f"/{SERVICE}/ReserveStock": RESERVATIONS,
    f"/{SERVICE}/CommitReservation": RESERVATIONS,
    f"/{SERVICE}/ReleaseReservation": RESERVATIONS,
    f"/{SERVICE}/LeaseStock": LEASES,
    f"/{SERVICE}/ReturnStock": LEASES,
}
