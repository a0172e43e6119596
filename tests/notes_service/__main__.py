"""python -m tests.notes_service [migrate]: serve the notes test service until SIGTERM, or only apply its
migrations (the convention every service follows, used by deploy/local/services.py)."""

from libs.grpckit.main import service_main
from tests.notes_service.app import NotesSettings, build_app, migrate_all

if __name__ == "__main__":
    service_main(NotesSettings, build_app, {"migrate": migrate_all})
