"""Tocsin runtime: domain, services, adapters and Lambda handlers."""

__version__ = "0.1.0"
