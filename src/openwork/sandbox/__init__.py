"""Sandbox mode: opencode in a container (docker, podman, Apple `container`), the workspace mounted from the host."""
