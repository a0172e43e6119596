"""gRPC server bootstrap and client helper shared by every service."""

from libs.grpckit.client import open_channel, service_token_metadata
from libs.grpckit.errors import status_for
from libs.grpckit.server import GrpcApp, run_app
from libs.grpckit.validation import Violations

__all__ = ["GrpcApp", "Violations", "open_channel", "run_app", "service_token_metadata", "status_for"]
