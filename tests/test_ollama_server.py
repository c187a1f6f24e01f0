import json
import re
import urllib.request

import pytest

from ftpack.ollama_host import base_url


@pytest.mark.ollama
def test_server_reports_its_version(ollama_url):
    with urllib.request.urlopen(f"{ollama_url}/api/version", timeout=5) as response:
        version = json.loads(response.read())["version"]
    assert re.match(r"^\d+\.\d+\.\d+", version), version


@pytest.mark.parametrize("raw, url", [
    ("127.0.0.1:11500", "http://127.0.0.1:11500"),
    ("http://localhost:8080/", "http://localhost:8080"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("https://ollama.example:443", "https://ollama.example:443"),
    ("[::1]:11434", "http://[::1]:11434"),
])
def test_host_is_read_like_the_ollama_cli(raw, url):
    assert base_url(raw) == url


def test_default_is_loopback(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert base_url() == "http://127.0.0.1:11434"
