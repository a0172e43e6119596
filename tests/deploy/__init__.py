"""Checks of deploy/ (container build files, Kubernetes manifests, capacity model), offline."""
