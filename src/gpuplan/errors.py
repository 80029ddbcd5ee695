"""Errors that reach the user: each one says what went wrong and what is allowed.

The CLI prints ``str(error)`` to stderr and exits with ``error.exit_code``; it never shows a
traceback for these. Exit codes follow the usual convention: 2 for bad usage or input
(argparse does the same), 1 for a failure while doing valid work.

Messages made with :func:`gpuplan.i18n.msg` stay English in ``.message`` and ``.hint``;
``str(error)`` translates them into the current language.
"""

from __future__ import annotations

from typing import Any

from gpuplan.i18n import msg, tr


class GpuplanError(Exception):
    """Base class of every error meant for the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return tr(self.message) if not self.hint else f"{tr(self.message)}\n{tr(self.hint)}"

    def __reduce__(self) -> tuple[Any, ...]:
        # errors cross process boundaries (trace workers): rebuild without calling a subclass's __init__
        return (_rebuild_error, (type(self), self.message, dict(self.__dict__)))


class UsageError(GpuplanError):
    """Invalid options or values (exit code 2)."""

    exit_code = 2


class UnknownGPUError(UsageError):
    """A GPU name that matches nothing, or more than one thing, in the catalog."""

    def __init__(self, query: str, candidates: list[str], *, ambiguous: bool = False) -> None:
        text: str
        hint: str
        if ambiguous:
            text = msg("GPU name {query} is ambiguous; it matches: {names}", query=repr(query),
                       names=", ".join(candidates))
            hint = msg("Give a more specific name (run `gpuplan gpus` to list the catalog).")
        else:
            text = msg("Unknown GPU {query}.", query=repr(query))
            catalog = msg("Run `gpuplan gpus` to list the catalog, or describe the card with --gpu-spec FILE.")
            hint = msg("Closest names: {names}.\n{rest}", names=", ".join(candidates), rest=catalog) if candidates \
                else catalog
        super().__init__(text, hint=hint)
        self.query = query
        self.candidates = candidates
        self.ambiguous = ambiguous


class ModelBuildError(GpuplanError):
    """The model could not be built (bad name, bad factory, bad arguments)."""

    exit_code = 2


class TraceError(GpuplanError):
    """The model was built but one step of it could not be traced."""

    exit_code = 1


def _rebuild_error(cls: type[GpuplanError], message: str, state: dict[str, Any]) -> GpuplanError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err
