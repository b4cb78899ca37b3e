"""Exceptions raised by sluice.

Every failure inside the library arrives as a ``sluice.Error`` (or one of the
subclasses below); the C++ extension maps library status codes to these
classes in exactly one place (``RaiseStatus`` in ``python/sluice_module.cc``).
"""

__all__ = ["Error", "Timeout", "NotFound", "InvalidArgument", "NotHeld"]


class Error(Exception):
    """A sluice operation failed.

    Attributes:
        message: what went wrong, e.g. "limit must be between 1 and 1048576 (got 0)".
        code: the library's status code name, e.g. "InvalidArgument", "Exists",
            "Full", "Permission", "IO", "Corrupt", "Version".
    """

    def __init__(self, message: str, code: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (type(self), (self.message, self.code))


class Timeout(Error, TimeoutError):
    """A blocking acquire ran out of time (also a built-in ``TimeoutError``)."""


class NotFound(Error, KeyError):
    """The namespace or limiter does not exist (also a ``KeyError``)."""


class InvalidArgument(Error, ValueError):
    """A bad name, parameter or permit count (also a ``ValueError``)."""


class NotHeld(Error):
    """The lease was already released, expired or reclaimed."""


for _cls in (Error, Timeout, NotFound, InvalidArgument, NotHeld):
    _cls.__module__ = "sluice"  # shown as sluice.Timeout in tracebacks and help()
del _cls
