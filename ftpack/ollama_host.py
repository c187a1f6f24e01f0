"""Where the local Ollama is, and whether it answers.

Loopback unless the user set OLLAMA_HOST, read the way the Ollama CLI reads it ("host",
"host:port", "http://host:port"; default 127.0.0.1:11434).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ftpack.errors import FtpackError

DEFAULT_HOST = "127.0.0.1:11434"


def base_url(host: str | None = None) -> str:
    raw = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip()
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":  # a bind-all address means "this machine" to a client
        hostname = "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 11434)
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
