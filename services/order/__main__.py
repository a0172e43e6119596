"""python -m services.order [migrate]: serve until SIGTERM, or only apply the migrations."""

from libs.grpckit.main import service_main
from services.order.bootstrap import OrderSettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(OrderSettings, build_app, {"migrate": migrate_all})
