"""What the deploy checks take from the services' own code: each service's settings class (the names its
configuration must use) and the topics each one publishes and consumes, per line (from the bootstraps'
constants and `consumed_topics`), so a topic or setting added there shows up here."""

from __future__ import annotations

from libs.core import BusinessLine
from libs.events import topic_name
from libs.settings import ServiceSettings
from services.analytics import bootstrap as analytics
from services.catalog import bootstrap as catalog
from services.catalog.service_layer import unit_of_work as catalog_events
from services.groupbuy import bootstrap as groupbuy
from services.groupbuy.service_layer.unit_of_work import GROUP_AGGREGATE
from services.membership import bootstrap as membership
from services.membership.service_layer.unit_of_work import MEMBERSHIP_AGGREGATE
from services.order import bootstrap as order
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE
from services.segmentation import bootstrap as segmentation
from services.segmentation.service_layer.unit_of_work import USER_AGGREGATE

SETTINGS: dict[str, type[ServiceSettings]] = {
    "catalog": catalog.CatalogSettings,
    "segmentation": segmentation.SegmentationSettings,
    "membership": membership.MembershipSettings,
    "order": order.OrderSettings,
    "groupbuy": groupbuy.GroupbuySettings,
    "analytics": analytics.AnalyticsSettings,
}


def published(line: BusinessLine) -> dict[str, set[str]]:
    """The topics each service of the line writes through its outbox."""
    topics = {
        "catalog": {catalog_events.LISTING_AGGREGATE, catalog_events.INVENTORY_AGGREGATE},
        "segmentation": {USER_AGGREGATE},
        "membership": {MEMBERSHIP_AGGREGATE},
        "order": {ORDER_AGGREGATE},
    }
    if line is BusinessLine.PINGOU:
        topics["groupbuy"] = {GROUP_AGGREGATE}
    return {
        service: {topic_name(line, aggregate) for aggregate in aggregates} for service, aggregates in topics.items()
    }


def consumed(line: BusinessLine) -> dict[str, set[str]]:
    """The topics each service of the line reads with a consumer group (bootstrap.py of each)."""
    topics = {
        "catalog": {topic_name(line, catalog.ORDER_AGGREGATE)},
        "segmentation": set(segmentation.consumed_topics(line, "")),
        "order": {topic_name(line, order.INVENTORY_AGGREGATE)},
        "analytics": set(analytics.consumed_topics(line, "")),
    }
    if line is BusinessLine.PINGOU:
        topics["order"].add(topic_name(line, order.GROUP_AGGREGATE))
        topics["groupbuy"] = {topic_name(line, ORDER_AGGREGATE)}
    return topics
