"""Domain errors. Handlers map them to HTTP status codes; none of them is retryable."""

from __future__ import annotations


class TocsinError(Exception):
    """Base class of every error Tocsin raises on purpose."""


class InvalidTransitionError(TocsinError):
    """An incident status change that the lifecycle does not allow."""


class IncidentNotFoundError(TocsinError):
    pass


class VersionConflictError(TocsinError):
    """The incident changed since the caller read it (optimistic locking)."""


class PayloadFormatError(TocsinError):
    """A payload that does not match its source's published format.

    `problem` names what is wrong (field path and reason) so senders can fix it.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class InvalidRequestError(TocsinError):
    """A request parameter that makes no sense (bad cursor, bad filter)."""


class UnknownSourceError(TocsinError):
    pass


class QuarantineNotFoundError(TocsinError):
    pass


class MaintenanceWindowNotFoundError(TocsinError):
    pass


class ConfigError(TocsinError):
    """Configuration files that fail validation; `problems` are 'file:line: message' lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StatusPageNotFoundError(TocsinError):
    """No status page, or no incident/maintenance on it, by that id."""
