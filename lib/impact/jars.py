"""JVM jars the jobs need (Delta, Sedona, GeoTools): fetch once from Maven, verify, list for Spark.

The lock file (conf/jars.lock) pins `group:artifact:version sha256` per jar. `fetch` copies each jar
non-transitively with `mvn dependency:copy` into a cache folder, so a force's Maven mirror configured in
~/.m2/settings.xml is used as-is, and then checks the checksum. After that, nothing touches the network:
`local_jars` only lists and verifies what is in the cache.

Run as `python -m impact.jars fetch --lock conf/jars.lock --dest .cache/jars`.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class JarError(RuntimeError):
    """A pinned jar is missing, corrupt or could not be fetched."""


@dataclass(frozen=True)
class PinnedJar:
    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


def read_lock(lock_path: Path) -> list[PinnedJar]:
    """Parse the lock file: one `group:artifact:version sha256` per line, `#` comments."""
    jars = []
    for number, line in enumerate(Path(lock_path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        coords = parts[0].split(":")
        if len(parts) != 2 or len(coords) != 3 or len(parts[1]) != 64:
            raise JarError(f"{lock_path}:{number}: expected 'group:artifact:version sha256', got {line!r}")
        jars.append(PinnedJar(*coords, sha256=parts[1].lower()))
    return jars


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(jar: PinnedJar, dest: Path) -> Path | None:
    path = dest / jar.file_name
    if path.is_file() and sha256_of(path) == jar.sha256:
        return path
    return None


def fetch(lock_path: Path, dest: Path) -> list[Path]:
    """Make sure every pinned jar is in `dest` with the right checksum, fetching what is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in read_lock(lock_path):
        path = _verified(jar, dest)
        if path is None:
            mvn = shutil.which("mvn")
            if mvn is None:
                raise JarError(
                    f"{jar.file_name} is not in {dest} and Maven (mvn) is not on PATH. Install Maven, "
                    f"or copy the jar there by hand (sha256 {jar.sha256})."
                )
            log.info("fetching %s", jar.coordinate)
            result = subprocess.run(
                [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={jar.coordinate}",
                 f"-DoutputDirectory={dest}", "-Dmdep.useBaseVersion=true", "-Dmdep.overWriteReleases=true"],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise JarError(f"mvn could not fetch {jar.coordinate}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
            path = _verified(jar, dest)
            if path is None:
                raise JarError(
                    f"{jar.file_name} fetched but its sha256 is not {jar.sha256}: refusing it. "
                    "If the pin was changed on purpose, update conf/jars.lock."
                )
        paths.append(path)
    log.info("%d jars verified in %s", len(paths), dest)
    return paths


def local_jars(lock_path: Path, dest: Path) -> list[Path]:
    """The cached jars for the lock file, without fetching. Raises JarError saying what to run."""
    missing = [jar.file_name for jar in read_lock(lock_path) if not (dest / jar.file_name).is_file()]
    if missing:
        raise JarError(f"jars missing from {dest}: {', '.join(missing)}. Run `make jars` first.")
    return [dest / jar.file_name for jar in read_lock(lock_path)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "list"])
    parser.add_argument("--lock", type=Path, required=True, help="lock file, e.g. conf/jars.lock")
    parser.add_argument("--dest", type=Path, required=True, help="cache folder, e.g. .cache/jars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        paths = fetch(args.lock, args.dest) if args.command == "fetch" else local_jars(args.lock, args.dest)
    except JarError as error:
        log.error("%s", error)
        return 2
    for path in paths:
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
