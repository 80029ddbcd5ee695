"""Errors that reach the user: each one says what went wrong and what is allowed.

The CLI prints ``str(error)`` to stderr and exits with ``error.exit_code``; it never shows a
traceback for these. Exit codes follow the usual convention: 2 for bad usage or input
(argparse does the same), 1 for a failure while doing valid work.
"""

from __future__ import annotations


class GpuplanError(Exception):
    """Base class of every error meant for the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(GpuplanError):
    """Invalid options or values (exit code 2)."""

    exit_code = 2


class UnknownGPUError(UsageError):
    """A GPU name that matches nothing, or more than one thing, in the catalog."""

    def __init__(self, query: str, candidates: list[str], *, ambiguous: bool = False) -> None:
        if ambiguous:
            msg = f"GPU name {query!r} is ambiguous; it matches: " + ", ".join(candidates)
            hint = "Give a more specific name (run `gpuplan gpus` to list the catalog)."
        else:
            msg = f"Unknown GPU {query!r}."
            hint = (
                ("Closest names: " + ", ".join(candidates) + ".\n") if candidates else ""
            ) + "Run `gpuplan gpus` to list the catalog, or describe the card with --gpu-spec FILE."
        super().__init__(msg, hint=hint)
        self.query = query
        self.candidates = candidates
        self.ambiguous = ambiguous


class ModelBuildError(GpuplanError):
    """The model could not be built (bad name, bad factory, bad arguments)."""

    exit_code = 2


class TraceError(GpuplanError):
    """The model was built but one step of it could not be traced."""

    exit_code = 1
