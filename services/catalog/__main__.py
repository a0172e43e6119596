"""python -m services.catalog [migrate | seed]: serve until SIGTERM, apply the migrations, or load the
demo catalog when the catalog is empty."""

from libs.grpckit.main import service_main
from services.catalog.bootstrap import CatalogSettings, build_app, migrate_all
from services.catalog.demo import seed_if_empty

if __name__ == "__main__":
    service_main(
        CatalogSettings,
        build_app,
        {
            "migrate": migrate_all,
            "seed": lambda settings: seed_if_empty(settings.database_url, topic_prefix=settings.kafka_topic_prefix),
        },
    )
