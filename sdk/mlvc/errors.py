"""Typed errors shared by every layer (the same kinds exist in the Kotlin and Swift ports)."""


class MLVCError(Exception):
    """Base class of every error the SDK raises on purpose."""

    code = "error"
    exit_status = 1


class InvalidArgumentError(MLVCError, ValueError):
    """A caller passed an option or input the SDK does not accept."""

    code = "invalid_argument"
    exit_status = 2


class UnsupportedError(MLVCError):
    """Valid input that this build cannot handle (size, format version, backend)."""

    code = "unsupported"
    exit_status = 3


class CorruptStreamError(MLVCError):
    """The bitstream is truncated or its contents are inconsistent."""

    code = "corrupt_stream"
    exit_status = 4


class ModelError(MLVCError):
    """A model package or network is missing, malformed, or not the one the stream needs."""

    code = "model"
    exit_status = 5


class HashMismatchError(MLVCError):
    """A decoded picture's hash differs from the one carried in the stream."""

    code = "hash_mismatch"
    exit_status = 6


class BackendError(MLVCError):
    """A backend is not installed or failed to run a network."""

    code = "backend"
    exit_status = 7
