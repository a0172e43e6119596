"""python -m services.analytics [migrate]: serve until SIGTERM, or only apply the migrations."""

from libs.grpckit.main import service_main
from services.analytics.bootstrap import AnalyticsSettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(AnalyticsSettings, build_app, {"migrate": migrate_all})
