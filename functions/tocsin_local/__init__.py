"""Embedded local mode and the `tocsin` CLI. Not shipped to Lambda."""
