"""python -m services.segmentation [migrate]: serve until SIGTERM, or only apply the migrations."""

from libs.grpckit.main import service_main
from services.segmentation.bootstrap import SegmentationSettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(SegmentationSettings, build_app, {"migrate": migrate_all})
