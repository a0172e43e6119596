"""python -m services.groupbuy [migrate]: serve until SIGTERM, or only apply the migrations."""

from libs.grpckit.main import service_main
from services.groupbuy.bootstrap import GroupbuySettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(GroupbuySettings, build_app, {"migrate": migrate_all})
