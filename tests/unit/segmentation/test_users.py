"""The user registry and identity links over a fake unit of work: registration with city tiers and
identities, profile updates, links (one account per person and line) and new-to-company."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.core import AlreadyExists, BusinessLine, NotFound
from libs.core.cities import UNKNOWN_TIER, CityTiers
from services.segmentation.domain.identity import identity_hash
from services.segmentation.domain.model import Channel, IdentityKind
from services.segmentation.service_layer import users
from services.segmentation.service_layer.users import Identity
from tests.unit.segmentation.fakes import FakeDatabase, FakeUnitOfWork

SALT = b"0123456789abcdef"
CITIES = CityTiers.load()
PHONE = Identity(IdentityKind.PHONE, "+86 138-1234-5678")
UNIONID = Identity(IdentityKind.WECHAT_UNIONID, "oUnion_abc123")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.PINGOU)


async def register(
    uow: FakeUnitOfWork, city: str = "杭州", *identities: Identity, channel: Channel = Channel.PINGOU_APP
) -> str:
    async with uow:
        user = await users.register_user(
            uow, cities=CITIES, salt=SALT, city=city, channel=channel, identities=identities
        )
    return user.user_id


async def link(uow: FakeUnitOfWork, user_id: str, identity: Identity) -> int:
    async with uow:
        return await users.link_identity(uow, salt=SALT, user_id=user_id, identity=identity)


async def test_registering_issues_an_id_of_the_line_places_the_city_and_announces_it(uow: FakeUnitOfWork) -> None:
    async with uow:
        user = await users.register_user(
            uow, cities=CITIES, salt=SALT, city="临沂市", channel=Channel.WECHAT_MINI_PROGRAM, identities=[PHONE]
        )

    assert user.user_id == "pu_1000001"
    assert (user.city, user.city_known, user.line) == (
        "临沂",
        True,
        BusinessLine.PINGOU,
    )  # stored under the table's name
    assert user.city_tier == CITIES.tier_of("临沂").tier
    assert uow.tables.users[user.user_id][1] == user
    (registered,) = uow.published
    assert isinstance(registered, pb.UserRegistered)
    assert (registered.user_id, registered.city, registered.city_tier, registered.channel) == (
        user.user_id,
        "临沂",
        user.city_tier,
        pb.CHANNEL_WECHAT_MINI_PROGRAM,
    )
    assert (uow.tables.outbox[0].topic, uow.tables.outbox[0].aggregate_id) == ("pingou.user.v1", user.user_id)


async def test_an_identity_is_kept_only_as_its_salted_hash(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "杭州", PHONE)
    (stored,) = uow.database.links
    assert (stored.user_id, stored.kind, stored.line) == (user_id, IdentityKind.PHONE, BusinessLine.PINGOU)
    assert stored.identity_hash == identity_hash(IdentityKind.PHONE, "13812345678", salt=SALT)


async def test_a_city_not_in_the_table_is_tier_six_and_marked_unknown(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "Atlantis")
    user = uow.tables.users[user_id][1]
    assert (user.city, user.city_tier, user.city_known) == ("Atlantis", UNKNOWN_TIER, False)


async def test_registering_with_an_identity_of_another_account_of_the_line_is_refused_and_writes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    first = await register(uow, "杭州", PHONE)
    with pytest.raises(AlreadyExists) as caught:
        await register(uow, "上海", Identity(IdentityKind.PHONE, "13812345678"))
    assert caught.value.reason == "IDENTITY_ALREADY_REGISTERED"
    assert caught.value.metadata == {"user_id": first}
    assert list(uow.tables.users) == [first]
    assert len(uow.published) == 1


async def test_the_same_person_may_hold_one_account_on_each_line() -> None:
    database = FakeDatabase()
    pingou, mall = FakeUnitOfWork(database, BusinessLine.PINGOU), FakeUnitOfWork(database, BusinessLine.MALL)
    on_pingou = await register(pingou, "杭州", PHONE)
    on_mall = await register(mall, "杭州", Identity(IdentityKind.PHONE, "13812345678"))
    assert on_mall == "mu_1000001"
    async with mall:
        linked = await mall.users.linked_accounts(on_mall)
    assert linked == [(on_pingou, BusinessLine.PINGOU, IdentityKind.PHONE)]


async def test_get_user_of_an_unknown_id_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        async with uow:
            await users.get_user(uow, "pu_1999999")
    assert caught.value.reason == "USER_NOT_FOUND"


async def test_a_profile_update_changes_what_is_given_keeps_the_rest_and_is_announced(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "杭州", channel=Channel.PINGOU_APP)
    async with uow:
        moved = await users.update_profile(uow, cities=CITIES, user_id=user_id, city="北京市", channel=None)
    async with uow:
        switched = await users.update_profile(uow, cities=CITIES, user_id=user_id, city=None, channel=Channel.H5)

    assert (moved.city, moved.city_tier, moved.channel) == ("北京", 1, Channel.PINGOU_APP)
    assert (switched.city, switched.channel) == ("北京", Channel.H5)
    assert uow.published[-1] == pb.UserProfileUpdated(user_id=user_id, city="北京", city_tier=1, channel=pb.CHANNEL_H5)


async def test_updating_an_unknown_user_is_not_found_and_announces_nothing(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        async with uow:
            await users.update_profile(uow, cities=CITIES, user_id="pu_1999999", city="北京", channel=None)
    assert caught.value.reason == "USER_NOT_FOUND"
    assert uow.published == []


# --- identity links


async def test_linking_answers_how_many_accounts_share_an_identity_and_announces_it() -> None:
    database = FakeDatabase()
    pingou, mall = FakeUnitOfWork(database, BusinessLine.PINGOU), FakeUnitOfWork(database, BusinessLine.MALL)
    await register(mall, "杭州", UNIONID)
    user_id = await register(pingou, "杭州")

    assert await link(pingou, user_id, UNIONID) == 1
    assert pingou.published[-1] == pb.IdentityLinked(
        user_id=user_id, kind=pb.IDENTITY_KIND_WECHAT_UNIONID, linked_accounts=1
    )


async def test_linking_the_same_identity_again_changes_nothing(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "杭州", PHONE)
    assert await link(uow, user_id, Identity(IdentityKind.PHONE, "138 1234 5678")) == 0
    assert len(uow.database.links) == 1


async def test_an_account_links_one_identity_of_each_kind(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "杭州", PHONE)
    with pytest.raises(AlreadyExists) as caught:
        await link(uow, user_id, Identity(IdentityKind.PHONE, "13900001111"))
    assert caught.value.reason == "IDENTITY_KIND_ALREADY_LINKED"
    assert await link(uow, user_id, UNIONID) == 0  # another kind is fine


async def test_an_identity_of_another_account_of_the_line_is_refused_and_nothing_is_announced(
    uow: FakeUnitOfWork,
) -> None:
    owner = await register(uow, "杭州", UNIONID)
    other = await register(uow, "上海")
    events_before = len(uow.published)
    with pytest.raises(AlreadyExists) as caught:
        await link(uow, other, UNIONID)
    assert caught.value.reason == "IDENTITY_ALREADY_REGISTERED"
    assert caught.value.metadata == {"user_id": owner}
    assert len(uow.published) == events_before


async def test_linking_to_an_unknown_user_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        await link(uow, "pu_1999999", PHONE)
    assert caught.value.reason == "USER_NOT_FOUND"
    assert uow.database.links == []


# --- new to the company


async def test_an_account_is_new_to_the_company_until_it_or_a_linked_account_has_paid() -> None:
    database = FakeDatabase()
    pingou, mall = FakeUnitOfWork(database, BusinessLine.PINGOU), FakeUnitOfWork(database, BusinessLine.MALL)
    buyer = await register(mall, "杭州", PHONE)
    newcomer = await register(pingou, "杭州", PHONE)

    async with pingou:
        before = await users.is_new_to_company(pingou, newcomer)
    async with mall:
        await mall.users.record_order_paid(buyer, amount_minor=9900, paid_at=datetime(2026, 5, 1, tzinfo=UTC))
    async with pingou:
        after = await users.is_new_to_company(pingou, newcomer)

    assert before == (True, 1)
    assert after == (False, 1)


async def test_new_to_company_of_an_unknown_user_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        async with uow:
            await users.is_new_to_company(uow, "pu_1999999")
    assert caught.value.reason == "USER_NOT_FOUND"
