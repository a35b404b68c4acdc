"""MLVC: a learned video codec whose streams decode to the same pixels on every exact backend.

Public API (imported lazily, so `import mlvc` stays fast and needs neither TensorFlow nor LiteRT):
Encoder, EncoderOptions, Decoder, DecoderOptions, DecodedFrame and the errors in mlvc.errors.
"""
from __future__ import annotations

from .errors import (BackendError, CorruptStreamError, HashMismatchError, InvalidArgumentError,
                     MLVCError, ModelError, UnsupportedError)

__version__ = "0.1.0"
_API = ("Encoder", "EncoderOptions", "Decoder", "DecoderOptions", "DecodedFrame")

__all__ = list(_API) + ["MLVCError", "InvalidArgumentError", "UnsupportedError",
                        "CorruptStreamError", "ModelError", "HashMismatchError", "BackendError"]


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'mlvc' has no attribute {name!r}")
