"""The adapters' base error, under the one root `domain.errors.TierbufferError`.

Every error an adapter raises on purpose (a bad session file, an export that is not one, a
library folder that does not exist, an HTTP setting that cannot be served, audio that cannot be
decoded) derives from `AdapterError`, so an entrypoint reports all of them, and the storage and
domain errors, by catching `TierbufferError`.
"""

from __future__ import annotations

from domain.errors import TierbufferError


class AdapterError(TierbufferError):
    """Base of the adapters' errors; the message is one line meant for a person."""
