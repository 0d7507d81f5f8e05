"""Keyed pseudonyms (HMAC-SHA256) of user ids, built from Spark's own sha2 so no Python UDF is needed."""

from __future__ import annotations

import hashlib
import hmac
import os

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.spark import local_frame

_BLOCK = 64


class MissingKey(RuntimeError):
    """The pseudonymisation key is not in the environment."""


def key_from_env(variable: str) -> bytes:
    value = os.environ.get(variable, "")
    if len(value) < 16:
        raise MissingKey(
            f"environment variable {variable} must hold the pseudonymisation key (at least 16 characters); "
            "it is read from the environment only and never written to conf, logs or outputs"
        )
    return value.encode("utf-8")


def fingerprint(key: bytes) -> str:
    """What a batch records of its key: HMAC-SHA256(key, a fixed label), 16 hex characters. Equal keys give equal
    fingerprints; the key cannot be found from it."""
    return hmac.new(key, b"iiap pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]


class KeyChanged(RuntimeError):
    """The key differs from the one the lakehouse's batches were pseudonymised with."""


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


PADS = ("_hmac_inner_pad", "_hmac_outer_pad")


def with_key_pads(frame: DataFrame, key: bytes) -> DataFrame:
    """`frame` with the key's HMAC pads as two columns, joined from a one-row frame: as data, not literals, the
    key is in no plan Spark prints (explain, the UI's SQL tab, event logs), only in the tasks' input. Callers
    select them away."""
    inner, outer = _pads(key)
    pads = local_frame(
        frame.sparkSession, [(bytearray(inner), bytearray(outer))], f"{PADS[0]} binary, {PADS[1]} binary"
    )
    return frame.crossJoin(F.broadcast(pads))


def hmac_sha256_hex(message: Column) -> Column:
    """HMAC-SHA256(key, message) as 64 hex characters (RFC 2104), over a frame `with_key_pads`; NULL for a NULL
    message."""
    inner = F.unhex(F.sha2(F.concat(F.col(PADS[0]), F.encode(message, "UTF-8")), 256))
    return F.sha2(F.concat(F.col(PADS[1]), inner), 256)
