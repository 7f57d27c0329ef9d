"""Layered configuration: an environment file in conf/ (local.yaml, cluster.yaml), then CLI overrides.

The environment file is found from `--conf`, else the IMPACT_CONF environment variable, else
`conf/local.yaml` under the current directory, else the project's own `conf/local.yaml` beside the
package (the embedded default for `make run`, found wherever a job is started from), else, for an
installed wheel, the same file shipped in it (package `impact_conf`). Relative paths inside it are
resolved against the folder above the file, so the same file works from any directory; for the wheel's
copy, against the current folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONF = Path("conf/local.yaml")
# The project's own embedded default, found from the package wherever a job is started (a source checkout
# or an editable install: lib/impact/config.py -> <project>/conf/local.yaml).
PACKAGED_CONF = Path(__file__).resolve().parents[2] / "conf" / "local.yaml"


def _wheel_conf() -> Path | None:
    """The embedded default of an installed wheel (conf/ ships as package `impact_conf`), if installed."""
    try:
        from importlib import resources

        path = Path(str(resources.files("impact_conf").joinpath("local.yaml")))
    except (ImportError, TypeError):   # not installed, or not a file system package
        return None
    return path if path.is_file() and path != PACKAGED_CONF else None


class ConfigError(ValueError):
    """The configuration is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Settings:
    """Everything a job needs to know about its environment; immutable once loaded."""

    conf_path: Path
    profile: str
    database: str
    raw_root: str
    warehouse: str
    sources_path: Path
    jars_lock: Path | None
    jars_dir: Path | None
    jars: tuple[str, ...]
    spark_master: str
    spark_conf: dict[str, str] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    # Hive-compatible metastore (see docs/serving.md): off unless the profile's `metastore.enabled` is true.
    # derby_dir: embedded Derby folder (default <warehouse>/_metastore/metastore_db); uris: a remote metastore.
    metastore_enabled: bool = False
    metastore_derby_dir: str | None = None
    metastore_uris: str | None = None

    def table_path(self, table: str) -> str:
        """Storage location of a Delta table: <warehouse>/<table>."""
        return f"{self.warehouse.rstrip('/')}/{table}"

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with the given fields replaced; None values are ignored (unset CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def without_great_expectations(self) -> "Settings":
        """A copy whose ingest skips the Great Expectations gate (`--no-validate`); the row rules still
        quarantine with reasons."""
        return self.with_overrides(ingest={**self.ingest, "great_expectations": False})


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    if "://" in value or value.startswith("/"):
        return value
    return str((base / value).resolve())


def load_settings(conf: str | Path | None = None) -> Settings:
    """Load the environment file (see module docstring for how it is found)."""
    given = conf or os.environ.get("IMPACT_CONF")
    wheel = _wheel_conf()
    path = Path(given) if given else next((p for p in (DEFAULT_CONF, PACKAGED_CONF, wheel) if p and p.is_file()), DEFAULT_CONF)
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found (cwd {Path.cwd()}). Pass --conf PATH or set IMPACT_CONF; "
            f"without either, {DEFAULT_CONF} under the current folder or {PACKAGED_CONF} is used."
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    # relative paths: against the folder above conf/, except for the installed wheel's default (its folder
    # is inside site-packages), whose warehouse, raw root and caches are under the current folder
    root = Path.cwd() if wheel is not None and path.resolve() == wheel.resolve() else path.resolve().parent.parent
    paths = raw.get("paths", {})
    spark = raw.get("spark", {})
    metastore = raw.get("metastore") or {}
    for required in ("raw_root", "warehouse"):
        if required not in paths:
            raise ConfigError(f"{path}: paths.{required} is required")
    jar_list = paths.get("jars")
    jars = tuple(j.strip() for j in jar_list.split(",") if j.strip()) if jar_list else ()
    return Settings(
        conf_path=path.resolve(),
        profile=raw.get("profile", "local"),
        database=raw.get("database", "impact"),
        raw_root=_resolve(root, paths["raw_root"]),
        warehouse=_resolve(root, paths["warehouse"]),
        sources_path=path.resolve().parent / raw.get("sources", "sources.yaml"),
        jars_lock=Path(_resolve(root, paths["jars_lock"])) if paths.get("jars_lock") else None,
        jars_dir=Path(_resolve(root, paths["jars_dir"])) if paths.get("jars_dir") else None,
        jars=jars,
        spark_master=spark.get("master", "local[*]"),
        spark_conf={str(k): str(v) for k, v in (spark.get("conf") or {}).items()},
        ingest=raw.get("ingest") or {},
        metastore_enabled=bool(metastore.get("enabled", False)),
        metastore_derby_dir=_resolve(root, metastore.get("derby_dir")),
        metastore_uris=str(metastore["uris"]).strip() if metastore.get("uris") else None,
    )


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML file with a clear error."""
    if not Path(path).is_file():
        raise ConfigError(f"{path} not found")
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
