"""One documented hierarchy of agentd failures, and the small signals used for control flow.

A refused tool call is not an exception: tools return a structured result to the model.
"""

from __future__ import annotations


class AgentdError(Exception):
    """Base of every failure agentd reports; the message says what to do."""


class ConfigError(AgentdError):
    """The configuration file or environment is invalid; nothing was touched."""


class RepositoryError(AgentdError):
    """The watched repository is missing, not a git repository, or a git operation failed."""


class SandboxError(AgentdError):
    """The Docker engine, the sandbox image or a container failed."""


class DiskLimitExceeded(SandboxError):  # noqa: N818 - domain name
    """A lane held more disk than sandbox.disk_limit allows: its sandbox was stopped, the job must fail."""


class ModelError(AgentdError):
    """A model provider failed in a way retries and fallbacks could not hide."""


class ModelHTTPError(ModelError):
    """A model endpoint answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BudgetExceeded(AgentdError):  # noqa: N818 - domain name
    """A token, step or money budget ran out; the task ends cleanly with a report."""


class StoreError(AgentdError):
    """The database of record failed or holds something unexpected."""


class JobCancelled(Exception):  # noqa: N818 - a signal, not an error
    """Signal: the daemon is stopping or the job was superseded; release the job unfinished."""
