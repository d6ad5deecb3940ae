"""The secrets masker: every common encoding of a secret becomes ***, in text and in bytes, and nothing else."""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from engine.process import LINE_LIMIT
from engine.secrets import Masker

SECRETS = ['s3cr3t/Tok+en=XYZ"q', "Tok+en=XYZ&q12", 'pa ss\\wörd"1']


def encodings(secret: str) -> dict[str, str]:
    return {
        "plain": secret,
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 urlsafe": base64.urlsafe_b64encode(secret.encode()).decode(),
        "quote safe=''": quote(secret, safe=""),
        "quote default": quote(secret),
        "quote lower-case escapes": re.sub("%[0-9A-F]{2}", lambda escape: escape.group().lower(), quote(secret)),
        "quote_plus": quote_plus(secret),
        "quote_plus safe='/'": quote_plus(secret, safe="/"),
        "json": json.dumps(secret)[1:-1],
        "json ensure_ascii=False": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json escaped slash": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


CASES = [pytest.param(secret, form, encoded, id=f"{secret}-{form}")
         for secret in SECRETS for form, encoded in encodings(secret).items()]


@pytest.mark.parametrize("secret, form, encoded", CASES)
def test_every_form_is_masked_in_text(secret: str, form: str, encoded: str) -> None:
    masked = Masker([secret]).text(f"before {encoded} after")
    assert "***" in masked and masked.startswith("before ") and masked.endswith(" after")
    assert secret not in masked and encoded not in masked


@pytest.mark.parametrize("secret, form, encoded", CASES)
def test_every_form_is_masked_in_bytes(secret: str, form: str, encoded: str) -> None:
    masked = Masker([secret]).bytes(b"before " + encoded.encode() + b" after\n")
    assert b"***" in masked and masked.startswith(b"before ") and masked.endswith(b" after\n")
    assert encoded.encode() not in masked


@pytest.mark.parametrize("secret", SECRETS)
def test_json_documents_keep_no_secret(secret: str) -> None:
    masker = Masker(SECRETS)
    for ensure_ascii in (True, False):
        document = json.dumps({"t": secret, "n": 1}, ensure_ascii=ensure_ascii)
        masked = masker.json_text(document)
        assert json.loads(masked) == {"t": "***", "n": 1}
        assert masker.text(document) == masked
    assert masker.json_text(json.dumps(secret)) == '"***"'


def test_the_longest_form_wins_over_a_shorter_one_inside_it() -> None:
    secret = 's3cr3t/Tok+en=XYZ"q'
    masker = Masker([secret])
    # the plain form starts both the quote() and the JSON forms: none may leave a tail behind
    for encoded in (quote(secret), json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/")):
        assert masker.text(f"<{encoded}>") == "<***>"
    assert Masker(["abcd", "abcdefgh"]).text("abcdefgh abcd abcdefg") == "*** *** ***efg"


def test_unrelated_text_is_untouched() -> None:
    masker = Masker(SECRETS)
    text = 'Token=XYZ s3cr3t pa ss %2B%3D "q" {"t": "other"} czNjcjN0 wörd\\ \u00e9\n'
    assert masker.text(text) == text
    assert masker.bytes(text.encode()) == text.encode()
    assert masker.json_text('{"t": "other"}') == '{"t": "other"}'
    assert masker.scrub({"a": [text, ("x", b"y")]}) == {"a": [text, ("x", b"y")]}


def test_longest_covers_every_form() -> None:
    masker = Masker(SECRETS)
    assert masker.longest == max(len(form) for form in masker.forms)
    for secret in SECRETS:
        for form, encoded in encodings(secret).items():
            if not form.startswith("base64"):  # base64 forms are the characters that depend on the secret only
                assert len(encoded.encode()) <= masker.longest
    assert masker.forms == sorted(masker.forms, key=len, reverse=True)
    assert len(masker.forms) == len(set(masker.forms))


def test_no_secrets_masks_nothing() -> None:
    masker = Masker(())
    assert not masker and masker.longest == 0
    assert masker.text("s3cr3t") == "s3cr3t" and masker.bytes(b"s3cr3t") == b"s3cr3t"


def test_a_secret_from_undecodable_environment_bytes_is_masked() -> None:
    secret = os.fsdecode(b"ab\xffcd/xyz")
    masker = Masker([secret])
    assert masker.bytes(b"1 ab\xffcd/xyz 2 ab%FFcd/xyz 3 ab%ffcd%2fxyz") == b"1 *** 2 *** 3 ***"
    assert masker.text(f"[{secret}]") == "[***]"


def test_a_long_multi_line_secret_is_masked_in_all_its_forms() -> None:
    secret = "-----BEGIN KEY-----\n" + "".join(chr(33 + i % 90) for i in range(5000)) + "\n-----END KEY-----"
    masker = Masker([secret])
    for form, encoded in encodings(secret).items():
        masked = masker.text(f"<{encoded}>")
        # base64 keeps the characters it shares with whatever comes before and after the secret
        assert masked == "<***>" if not form.startswith("base64") else masked.startswith("<***") and len(masked) < 10


@pytest.mark.parametrize("secret", SECRETS)
def test_forms_split_across_chunks_are_masked(tmp_path: Path, secret: str) -> None:
    from engine.process import _LineWriter

    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = _LineWriter(fd, "out", False, Masker([secret]))
    for encoded in encodings(secret).values():
        data = b"x" * (LINE_LIMIT + 10) + encoded.encode() + b" tail\n"
        middle = LINE_LIMIT + 10 + len(encoded.encode()) // 2
        writer.feed(data[:middle])
        writer.feed(data[middle:])
    writer.close()
    os.close(fd)
    written = path.read_bytes()
    assert written.count(b"***") == len(encodings(secret))
    for encoded in encodings(secret).values():
        assert encoded.encode() not in written
