"""Pure domain: stdlib + pydantic only. Nothing here imports AWS or adapters."""
