"""The public error tree of flyte-local.

```
BaseException
 ├── ActionAborted ............... the run was aborted; unwinds a task body (not an Exception)
 └── Exception
      └── FlyteError ............. base of everything flyte raises; has `kind`
           ├── UserError ......... the user's code or input is at fault (kind="user")
           │    ├── InvalidOptionError ... a bad option at decoration / override time
           │    ├── RuntimeUserError ..... a task body raised; also mixed into the user's own type
           │    ├── NonRecoverableError .. raise it to stop retrying
           │    ├── TaskTimeoutError ..... an action ran past its timeout
           │    ├── OOMError ............. an action ran out of memory
           │    ├── TraceCallError ....... a task was called inside a @flyte.trace
           │    ├── NestingTooDeepError .. tasks nested deeper than the limit
           │    ├── SerializationError ... an input or output could not be stored
           │    │    └── TypeMismatchError .. a value does not match the task's interface
           │    ├── ExecutorUnavailableError . the executor asked for cannot be reached
           │    ├── RunNotFoundError ..... no run with that name
           │    ├── RunActiveError ....... a live process still drives (or recovers) that run
           │    ├── TaskNotFoundError .... no deployed task with that name / version
           │    │                          (alias RemoteTaskNotFoundError)
           │    ├── RemoteTaskUsageError . a deployed task reference misused
           │    ├── RemoteError .......... the server is unreachable or refused the request
           │    ├── InitializationError .. flyte.init was given a bad configuration
           │    ├── EnvVarConflictError .. two environments set one variable differently
           │    └── RunAbortedError ...... the run was aborted (alias ActionAbortedError)
           └── SystemError ....... flyte itself or its store failed (kind="system")
                ├── StoreError ........... the run store cannot be used (corrupt, too new)
                │    └── StoreIntegrityError .. a stored value failed its authenticity check
                └── RuntimeSystemError ... the engine failed
                     └── ExecutorLostError ... the cluster running bodies went away (not retried)
```
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ActionAborted",
    "ActionAbortedError",
    "InitializationError",
    "RemoteTaskNotFoundError",
    "RemoteTaskUsageError",
    "EnvVarConflictError",
    "ExecutorLostError",
    "ExecutorUnavailableError",
    "FlyteError",
    "InvalidOptionError",
    "NestingTooDeepError",
    "NonRecoverableError",
    "OOMError",
    "RemoteError",
    "ReportNotFoundError",
    "RunAbortedError",
    "RunActiveError",
    "RunNotFoundError",
    "RuntimeSystemError",
    "RuntimeUserError",
    "SerializationError",
    "StoreError",
    "StoreIntegrityError",
    "SystemError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "TraceCallError",
    "TypeMismatchError",
    "UserError",
    "as_user_error",
    "plain_error",
]


class FlyteError(Exception):
    """Base of every error flyte raises."""

    kind: ClassVar[str] = "system"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).__name__


class UserError(FlyteError):
    """The user's code, options or inputs are at fault."""

    kind = "user"


class SystemError(FlyteError):
    """flyte itself, or its store, failed."""

    kind = "system"


class InvalidOptionError(UserError, ValueError):
    """An option given to a decorator, environment or override is not valid."""


class _CodeMessage:
    """Upstream's `(code, message)` constructor: `RuntimeUserError("ValueError", "bad x")`."""

    def __init__(self, *args: Any, code: str | None = None, worker: str | None = None) -> None:
        if len(args) == 2 and code is None and all(isinstance(a, str) for a in args):
            code, message = args
            args = (message,)
        super().__init__(*args)
        self.code = code or type(self).__name__  # type: ignore[attr-defined]
        self.worker = worker  # type: ignore[attr-defined]


class RuntimeUserError(_CodeMessage, UserError):
    """A task body raised; `.code` names the original exception class."""


class NonRecoverableError(RuntimeUserError):
    """Raised by a task body to fail at once, without retries."""


class TaskTimeoutError(RuntimeUserError, TimeoutError):
    """An action ran longer than its timeout and was stopped."""


class OOMError(RuntimeUserError, MemoryError):
    """An action exceeded its memory limit."""


class TraceCallError(UserError):
    """A task was called from inside a @flyte.trace function, which is not allowed."""


class SerializationError(UserError, TypeError):
    """An input or output value could not be serialized for the store."""


class ExecutorUnavailableError(UserError):
    """The executor asked for (a Dask scheduler, the `dask` extra) cannot be used."""


class TypeMismatchError(SerializationError):
    """An input or output value does not match the type the task's interface declares."""


class NestingTooDeepError(UserError, RecursionError):
    """Tasks called tasks deeper than flyte-local's nesting limit."""


class RunNotFoundError(UserError, LookupError):
    """No run with the given name exists in the store."""


class ReportNotFoundError(UserError, LookupError):
    """The action logged no report (`@env.task(report=True)` and `flyte.report.log` make one)."""


class RunActiveError(UserError):
    """A live process still drives or recovers the run: it cannot be deleted or recovered."""


class TaskNotFoundError(UserError, LookupError):
    """No deployed task matches the given name and version."""


class RemoteError(UserError):
    """The server (`flyte serve`) is unreachable, refused the token, or rejected the request."""

    kind = "user"


class EnvVarConflictError(UserError):
    """Two environments set one environment variable to different values in one process."""


class RunAbortedError(UserError):
    """The run was aborted before it finished."""


class RemoteTaskUsageError(UserError):
    """A deployed task reference was used in a way it cannot be (upstream's name)."""


class InitializationError(UserError):
    """flyte was configured wrongly (`flyte.init` / `init_from_config`)."""


# Upstream's names for the same conditions: code that catches them works unchanged.
RemoteTaskNotFoundError = TaskNotFoundError
ActionAbortedError = RunAbortedError


class StoreError(SystemError):
    """The run store cannot be opened or used (corrupt file, newer schema, ...)."""


class StoreIntegrityError(StoreError):
    """A stored exact value is not authenticated by this home's key; it was not loaded."""


class RuntimeSystemError(_CodeMessage, SystemError):
    """The engine failed for a reason that is not the user's code."""


class ExecutorLostError(RuntimeSystemError):
    """The cluster running task bodies went away (a lost Dask scheduler); not retried."""

    # A retry would meet the same missing cluster; the run stops and can be recovered.
    retryable: ClassVar[bool] = False


class ActionAborted(BaseException):
    """Unwinds a task body when its run is aborted; derives from BaseException like cancellation."""


_combined: dict[type[BaseException], type[BaseException]] = {}


def as_user_error(exc: BaseException) -> BaseException:
    """Return `exc` re-typed so it is both its own class and a `RuntimeUserError`.

    A child's exception must reach the parent as its own type (`except ValueError` works)
    while code written for upstream Flyte catches `RuntimeUserError` and reads `.code`.
    Python forbids changing the class of a builtin exception instance, so a combined
    subclass is built once per type and a fresh instance carries the same args, attributes
    and traceback. Where that is impossible (final classes, exotic layouts), the original
    object is returned unchanged.

    Args:
        exc: the exception raised by the child's body.

    Returns:
        An exception that is an instance of `type(exc)` and, where possible, of
        `RuntimeUserError` with `code` set to the original class name.
    """
    cls = type(exc)
    if isinstance(exc, RuntimeUserError) or not isinstance(exc, Exception):
        return exc
    combined = _combined.get(cls)
    if combined is None:
        try:
            combined = type(cls.__name__, (cls, RuntimeUserError), {"__module__": cls.__module__})
        except TypeError:
            _combined[cls] = cls
            return exc
        combined.__qualname__ = cls.__qualname__
        _combined[cls] = combined
    if combined is cls:
        return exc
    try:
        new: Any = combined.__new__(combined, *exc.args)
        new.args = exc.args
        new.__dict__.update(getattr(exc, "__dict__", {}))
        new.code = cls.__name__
    except Exception:  # the original class has a constructor or layout we cannot mirror
        return exc
    new.__cause__ = exc.__cause__
    new.__context__ = exc.__context__
    new.__suppress_context__ = exc.__suppress_context__
    return new.with_traceback(exc.__traceback__)


def plain_error(exc: BaseException) -> BaseException:
    """Undo `as_user_error`: the same error as an instance of its original class.

    The combined class exists once per process; an error crossing to another process
    travels as its original class and is combined again there.
    """
    cls = type(exc)
    original = cls.__mro__[1] if len(cls.__mro__) > 1 else cls
    if _combined.get(original) is not cls or original is cls:
        return exc
    try:
        plain: Any = original.__new__(original, *exc.args)
        plain.args = exc.args
        state = dict(getattr(exc, "__dict__", {}))
        state.pop("code", None)
        plain.__dict__.update(state)
    except Exception:
        return exc
    return plain  # type: ignore[no-any-return]
