"""Where the local Ollama is, and whether it answers.

Loopback unless the user set OLLAMA_HOST, read the way the Ollama CLI reads it ("host",
"host:port", "http://host:port"; default 127.0.0.1:11434).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from ftpack.errors import FtpackError

DEFAULT_HOST = "127.0.0.1:11434"


ADDRESS_HELP = "write host, host:port or http://host:port, e.g. 127.0.0.1:11434"


def parse(given: str):
    """urlsplit of an Ollama address as the Ollama CLI reads it; ValueError saying what is wrong."""
    raw = given if "://" in given else "http://" + given
    parts = urlsplit(raw)
    parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    if parts.scheme not in ("http", "https"):
        raise ValueError("use http:// or https://")
    if parts.hostname and not re.fullmatch(r"[\w.-]+|[0-9a-fA-F:.]+", parts.hostname):
        raise ValueError(f"bad host name {parts.hostname!r}")
    return parts


def base_url(host: str | None = None) -> str:
    """The server's URL; a malformed address is a one-line error saying where it came from."""
    given = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip()
    try:
        parts = parse(given)
    except ValueError as exc:
        source = "--host" if host else "OLLAMA_HOST"
        raise FtpackError(f"{source} {given!r} is not an Ollama address ({exc}): {ADDRESS_HELP}") from None
    port = parts.port or (443 if parts.scheme == "https" else 11434)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":  # a bind-all address means "this machine" to a client
        hostname = "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{parts.scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


def server_version(host: str | None = None, timeout: float = 3.0) -> str:
    """The server's version string; a one-line FtpackError when it does not answer."""
    url = base_url(host)
    try:
        with urllib.request.urlopen(f"{url}/api/version", timeout=timeout) as response:
            return json.loads(response.read())["version"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FtpackError(f"no Ollama answering at {url} ({reason}): start it with `ollama serve` "
                          "or set OLLAMA_HOST to where it runs") from None



def free_loopback_host() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def wait_until_serving(host: str, process: subprocess.Popen, seconds: float = 20.0) -> None:
    """Wait for a server this process started to answer; a one-line FtpackError when it exits or stays silent."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            server_version(host, timeout=1)
            return
        except FtpackError:
            if process.poll() is not None:
                raise FtpackError(f"{process.args[0]} serve exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise FtpackError(f"{process.args[0]} serve did not answer on {host} within {seconds:g} s") from None
            time.sleep(0.2)


@contextlib.contextmanager
def scratch_server(binary: str, folder: Path, environment: dict[str, str] | None = None,
                   seconds: float = 20.0) -> Iterator[str]:
    """`binary serve` on a free loopback port, its models and HOME in `folder` (a user's server and models
    are not touched), `environment` on top of ours; yields its address, stops it after. Its output goes to
    folder/serve.log; when it does not come up, a one-line FtpackError quotes the log's last line (the
    callers delete `folder`, so naming the file would point at nothing)."""
    host = free_loopback_host()
    env = {**os.environ, "OLLAMA_HOST": host, "OLLAMA_MODELS": str(folder / "models"), "HOME": str(folder),
           **(environment or {})}
    with open(folder / "serve.log", "ab") as log:
        process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_until_serving(host, process, seconds)
            except FtpackError as exc:
                log.flush()
                said = Path(log.name).read_text(errors="replace").strip().splitlines()
                raise FtpackError(f"{exc}: {said[-1] if said else 'it printed nothing'}") from None
            yield host
        finally:
            process.terminate()
            process.wait(timeout=30)
