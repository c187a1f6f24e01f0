"""Where the local Ollama is, and whether it answers.

Loopback unless the user set OLLAMA_HOST, read the way the Ollama CLI reads it ("host",
"host:port", "http://host:port"; default 127.0.0.1:11434).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
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
