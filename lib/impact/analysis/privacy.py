"""Privacy of analysis outputs: keyed pseudonyms of officer ids and small-cell suppression.

Officer identifiers never appear in analysis tables or the report. Where a row needs to tell officers
apart (it should rarely), it carries `pseudonym(collar)`: an HMAC-SHA256 of the collar number under a
secret key, so the same officer gets the same pseudonym across runs with the same key and nobody
without the key can reverse or recompute it. The key comes from, in order:

1. the environment variable named by `privacy.key_env` (default `IMPACT_PSEUDONYM_KEY`, hex or text);
2. the file named by `privacy.key_file` (outside the repository; on the cluster a secret mount);
3. locally only (profile `local`): `<warehouse>/_secrets/pseudonym.key`, generated once (random 32 bytes).

In any other profile a missing key is a `PseudonymKeyError` that says how to provide one.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "IMPACT_PSEUDONYM_KEY"
LOCAL_KEY = "_secrets/pseudonym.key"


class PseudonymKeyError(RuntimeError):
    """No pseudonymisation key could be found (and none may be generated here)."""


def load_key(profile: str, warehouse: str, key_env: str = DEFAULT_KEY_ENV, key_file: str | None = None,
             repo_root: Path | None = None) -> bytes:
    """The HMAC key (see module docstring for the order). A key file inside `repo_root` is refused."""
    value = os.environ.get(key_env)
    if value:
        return value.encode()
    if key_file:
        path = Path(key_file).expanduser().resolve()
        if repo_root is not None and path.is_relative_to(repo_root.resolve()):
            raise PseudonymKeyError(f"privacy.key_file {path} is inside the repository: keep secrets outside it")
        if not path.is_file():
            raise PseudonymKeyError(f"privacy.key_file {path} not found")
        return path.read_bytes().strip()
    if profile != "local" or "://" in warehouse and not warehouse.startswith("file:"):
        raise PseudonymKeyError(
            f"no pseudonymisation key: set ${key_env} or privacy.key_file in conf/analysis.yaml "
            f"(profile {profile!r} never generates one)")
    path = Path(warehouse.removeprefix("file:")) / LOCAL_KEY
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        log.info("generated a local pseudonymisation key at %s", path)
    return path.read_text().strip().encode()


def pseudonym(collar: str, key: bytes) -> str:
    """`off_` + the first 16 hex digits of HMAC-SHA256(key, collar number)."""
    return "off_" + hmac.new(key, collar.encode(), hashlib.sha256).hexdigest()[:16]


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Element-wise `pseudonym` (nulls stay null)."""
    return values.map(lambda v: None if pd.isna(v) else pseudonym(str(v), key))


def suppress_small_cells(frame: pd.DataFrame, count_column: str, value_columns: list[str],
                         threshold: int) -> pd.DataFrame:
    """Rows with fewer than `threshold` officers (`count_column`) get their values and count set to
    NaN and `suppressed = True`; nothing is dropped, so totals elsewhere stay honest."""
    out = frame.copy()
    small = out[count_column] < threshold
    out["suppressed"] = small
    out[value_columns + [count_column]] = out[value_columns + [count_column]].astype(float)
    out.loc[small, value_columns + [count_column]] = float("nan")
    return out
