"""python -m services.membership [migrate]: serve until SIGTERM, or only apply the migrations."""

from libs.grpckit.main import service_main
from services.membership.bootstrap import MembershipSettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(MembershipSettings, build_app, {"migrate": migrate_all})
