"""Adapters: implementations of the ports for AWS and vendors."""
