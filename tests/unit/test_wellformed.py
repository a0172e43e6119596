"""The checks every request gets at the edge, whatever its method: storable, showable text and enum values
that exist, in every string and enum field however deep."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.message import DecodeError
from pingou.catalog.v1 import catalog_pb2 as catalog
from pingou.groupbuy.v1 import groupbuy_pb2 as groupbuy
from pingou.order.v1 import order_pb2 as order
from pingou.segmentation.v1 import segmentation_pb2 as segmentation

from libs.core import InvalidArgument
from libs.grpckit.wellformed import MAX_REPORTED, MAX_TEXT_LENGTH, WellFormed

DESCRIPTION = catalog.CreateProductRequest.DESCRIPTOR.fields_by_name["description"].full_name


def _refused(check: WellFormed, request: object) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        check.check(request)
    assert caught.value.reason == "INVALID_ARGUMENT"
    return {violation.field: violation.description for violation in caught.value.violations}


def _join(**changes: object) -> groupbuy.JoinGroupRequest:
    buyer = groupbuy.Buyer(
        user_id="pu_1000001", shipping_city="临沂", channel=order.CHANNEL_WECHAT_MINI_PROGRAM, idempotency_key="k-1"
    )
    for name, value in changes.items():
        setattr(buyer, name, value)
    return groupbuy.JoinGroupRequest(buyer=buyer, group_id=str(uuid.uuid4()))


def test_ordinary_text_passes_chinese_and_ideographic_spaces_included() -> None:
    check = WellFormed()
    check.check(_join(shipping_city="临沂　兰山区"))  # U+3000, not printable to Python, fine for Postgres
    check.check(catalog.CreateProductRequest(title="拼购 · 汉服 ✓", attributes={"颜色": "红"}))


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\n", "\r", "\t"])
def test_a_control_character_anywhere_in_a_one_line_field_is_refused_naming_it(character: str) -> None:
    fields = _refused(WellFormed(), _join(shipping_city=f"临{character}沂"))
    assert fields == {"buyer.shipping_city": f"holds a control character (U+{ord(character):04X})"}


def test_line_breaks_and_tabs_are_allowed_only_in_the_fields_named_multi_line() -> None:
    check = WellFormed(multiline_fields=[DESCRIPTION])
    check.check(catalog.CreateProductRequest(title="t", description="第一行\n第二行\r\n\t缩进"))
    assert set(_refused(check, catalog.CreateProductRequest(title="a\nb", description="ok"))) == {"title"}
    assert set(_refused(check, catalog.CreateProductRequest(description="a\x00b"))) == {"description"}
    assert set(_refused(WellFormed(), catalog.CreateProductRequest(description="a\nb"))) == {"description"}


def test_nested_repeated_and_map_fields_are_named_by_their_path() -> None:
    request = catalog.CreateProductRequest(
        title="ok",
        image_urls=["https://a", "https://b\x00"],
        attributes={"颜色": "红\x00", "bad\x1bkey": "v"},
        skus=[catalog.Sku(title="ok"), catalog.Sku(title="x\x07", attributes={"尺码": "L\n"})],
    )
    assert set(_refused(WellFormed(), request)) == {
        "image_urls[1]",
        "attributes[颜色]",
        "attributes",  # the key itself is bad: it cannot name its entry
        "skus[1].title",
        "skus[1].attributes[尺码]",
    }


def test_text_over_the_generic_cap_is_refused() -> None:
    fields = _refused(WellFormed(), _join(idempotency_key="k" * (MAX_TEXT_LENGTH + 1)))
    assert fields == {"buyer.idempotency_key": f"is longer than {MAX_TEXT_LENGTH} characters"}
    WellFormed().check(_join(idempotency_key="k" * MAX_TEXT_LENGTH))  # the field's own validator limits it


def test_enum_values_that_do_not_exist_are_refused_even_in_repeated_fields() -> None:
    assert _refused(WellFormed(), _join(channel=99)) == {"buyer.channel": "has an unknown value 99"}
    rule = segmentation.SegmentRule(channels=[segmentation.CHANNEL_H5, 42])  # type: ignore[list-item]  # no such channel
    request = segmentation.DefineSegmentRequest(line=7, rule=rule)  # type: ignore[arg-type]  # nor such a line
    assert set(_refused(WellFormed(), request)) == {"line", "rule.channels[1]"}
    WellFormed().check(segmentation.DefineSegmentRequest())  # UNSPECIFIED exists: each validator decides on it


def test_the_answer_lists_at_most_a_bounded_number_of_problems() -> None:
    request = catalog.GetProductsRequest(product_ids=["\x00"] * 1000)
    assert len(_refused(WellFormed(), request)) == MAX_REPORTED


def test_a_misspelt_multi_line_field_fails_at_start() -> None:
    with pytest.raises(KeyError):
        WellFormed(multiline_fields=["pingou.catalog.v1.CreateProductRequest.descripton"])


def test_invalid_utf8_never_reaches_the_check_protobuf_refuses_it_while_decoding() -> None:
    with pytest.raises(DecodeError):
        groupbuy.Buyer.FromString(b"\x12\x02\xff\xfe")  # shipping_city: two bytes that are not UTF-8
