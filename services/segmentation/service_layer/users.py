"""Use cases of the user registry and identity links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pingou.segmentation.v1 import segmentation_pb2 as pb
from prometheus_client import Counter

from libs.core import NotFound
from libs.core.cities import CityTier, CityTiers
from libs.logs import get_logger
from services.segmentation.domain.identity import identity_hash
from services.segmentation.domain.model import Channel, IdentityKind, User
from services.segmentation.service_layer.unit_of_work import USER_AGGREGATE, UnitOfWork

log = get_logger(__name__)

UNKNOWN_CITIES = Counter("segmentation_unknown_cities_total", "Cities not in the tier table (tier 6)", ["line"])

CHANNEL_TO_PROTO = {
    Channel.PINGOU_APP: pb.CHANNEL_PINGOU_APP,
    Channel.WECHAT_MINI_PROGRAM: pb.CHANNEL_WECHAT_MINI_PROGRAM,
    Channel.MALL_APP: pb.CHANNEL_MALL_APP,
    Channel.H5: pb.CHANNEL_H5,
}


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str


def _tier(cities: CityTiers, city: str, uow: UnitOfWork) -> CityTier:
    """The city's tier; a known city is stored under the table's name ("临沂市" -> "临沂") so analysts
    count one city once."""
    found = cities.tier_of(city)
    if not found.known:
        UNKNOWN_CITIES.labels(uow.line.value).inc()
        log.info("unknown_city", city=city, line=uow.line.value)
    return found


async def register_user(
    uow: UnitOfWork,
    *,
    cities: CityTiers,
    salt: bytes,
    city: str,
    channel: Channel,
    identities: Sequence[Identity],
) -> User:
    found = _tier(cities, city, uow)
    user = await uow.users.add_user(city=found.city, city_tier=found.tier, city_known=found.known, channel=channel)
    for identity in identities:
        digest = identity_hash(identity.kind, identity.value, salt=salt)
        await uow.users.link_identity(user.user_id, kind=identity.kind, digest=digest)
    event = pb.UserRegistered(
        user_id=user.user_id, city=user.city, city_tier=user.city_tier, channel=CHANNEL_TO_PROTO[channel]
    )
    event.registered_at.FromDatetime(user.registered_at)
    uow.publish(USER_AGGREGATE, user.user_id, event)
    return user


async def get_user(uow: UnitOfWork, user_id: str) -> User:
    user = await uow.users.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", reason="USER_NOT_FOUND")
    return user


async def update_profile(
    uow: UnitOfWork, *, cities: CityTiers, user_id: str, city: str | None, channel: Channel | None
) -> User:
    found = None if city is None else _tier(cities, city, uow)
    user = await uow.users.update_profile(
        user_id,
        city=None if found is None else found.city,
        city_tier=None if found is None else found.tier,
        city_known=None if found is None else found.known,
        channel=channel,
    )
    if user is None:
        raise NotFound(f"no user {user_id}", reason="USER_NOT_FOUND")
    uow.publish(
        USER_AGGREGATE,
        user_id,
        pb.UserProfileUpdated(
            user_id=user_id, city=user.city, city_tier=user.city_tier, channel=CHANNEL_TO_PROTO[user.channel]
        ),
    )
    return user


async def link_identity(uow: UnitOfWork, *, salt: bytes, user_id: str, identity: Identity) -> int:
    """Links the identity to the account; returns how many other accounts now share an identity with it."""
    await get_user(uow, user_id)
    digest = identity_hash(identity.kind, identity.value, salt=salt)
    await uow.users.link_identity(user_id, kind=identity.kind, digest=digest)
    linked = len(await uow.users.linked_accounts(user_id))
    uow.publish(
        USER_AGGREGATE,
        user_id,
        pb.IdentityLinked(
            user_id=user_id,
            kind=pb.IDENTITY_KIND_PHONE if identity.kind is IdentityKind.PHONE else pb.IDENTITY_KIND_WECHAT_UNIONID,
            linked_accounts=linked,
        ),
    )
    return linked


async def is_new_to_company(uow: UnitOfWork, user_id: str) -> tuple[bool, int]:
    new = await uow.users.is_new_to_company(user_id)
    if new is None:
        raise NotFound(f"no user {user_id}", reason="USER_NOT_FOUND")
    return new, len(await uow.users.linked_accounts(user_id))
