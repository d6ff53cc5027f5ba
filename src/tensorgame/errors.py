"""User-facing error types.

Anything a user can cause (bad file, wrong shape, absurd size) raises a subclass of
:class:`TensorGameError`; the CLI turns it into a one-line message and exit code 2.
Programming errors stay ordinary exceptions so they are not hidden.
"""


class TensorGameError(Exception):
    """Base class for errors caused by user input."""


class FormatError(TensorGameError):
    """A file or document could not be read as a scheme or tensor."""


class TargetError(TensorGameError):
    """A target tensor request is malformed or too large."""


class RingError(TensorGameError):
    """A ring name is unknown or an operation is impossible in that ring."""


class CatalogError(TensorGameError):
    """The scheme catalogue refused an operation."""


class VerificationError(TensorGameError):
    """A scheme failed exact verification where a correct one was required."""

    def __init__(self, message: str, verification: object | None = None) -> None:
        super().__init__(message)
        self.verification = verification
