"""Redaction covers every spelling a secret takes on its way into a notebook: plain, percent-encoded
once or twice (a URL in a URL), JSON-escaped ('\\u0026sig=', '\\/'), HTML-escaped, and a registered
key in each of those spellings."""

from __future__ import annotations

import base64
import json
import os
import re
from urllib.parse import quote, quote_plus

import pytest

from batchnb.core.redact import redact, register_secret

SIG = "AbC%2Bdef%2F123%3D"
SAS = f"https://acct.blob.core.windows.net/c/b.txt?sv=2024-01-01&se=2030&sp=r&sig={SIG}"
CONN = ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + base64.b64encode(os.urandom(64)).decode()
        + ";EndpointSuffix=core.windows.net")


@pytest.mark.parametrize("spelling", [
    SAS, quote(SAS, safe=""), quote(quote(SAS, safe=""), safe=""), json.dumps(SAS).replace("&", "\\u0026"),
    SAS.replace("&", "&amp;"), SAS.replace("=", "&#61;"), SAS.upper(),
])
def test_sas_signatures_are_masked_in_every_spelling(spelling) -> None:
    out = redact(f"GET {spelling} failed")
    assert "AbC" not in out and "abc" not in out and "***" in out


@pytest.mark.parametrize("encode", [lambda s: s, lambda s: quote(s, safe=""), quote_plus,
                                    lambda s: quote(quote(s, safe=""), safe="")])
def test_connection_string_keys_are_masked_encoded_or_not(encode) -> None:
    key = CONN.split("AccountKey=")[1].split(";")[0]
    out = redact(f"connecting with {encode(CONN)}")
    assert key not in out and quote(key, safe="") not in out and quote_plus(key) not in out


def test_a_registered_key_is_masked_in_its_encoded_spellings() -> None:
    key = base64.b64encode(b"\xfb\xff" + os.urandom(40)).decode()  # holds '+' and '/'
    register_secret(key)
    once = quote(key, safe="")
    lower_escapes = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), once)
    for text in (key, once, lower_escapes, quote_plus(key), quote(once, safe=""), key.replace("/", "\\/")):
        out = redact(f"x {text} y")
        assert text not in out and "***" in out, text


def test_ordinary_text_is_left_alone() -> None:
    text = "design=3 signal=ok config.sig_level=2 AccountName=acct"
    assert redact(text) == text
