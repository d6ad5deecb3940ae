"""Secrets: environment variables a recipe names, passed to steps and masked as `***` everywhere the runner
writes (step logs, runner log, console, context, run database), in their common encodings too."""
from __future__ import annotations

import enum
import json
import os
import re
from typing import Any, Iterable, Mapping

from .errors import UserError

MASK = b"***"
MIN_LENGTH = 4
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_secrets(names: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values of the named variables; a missing, empty or too short one is refused before the run."""
    source: Mapping[str, str] = os.environ if environ is None else environ
    values = {}
    for name in names:
        if not ENV_NAME.match(name):
            raise UserError(f"secrets: {name!r} is not an environment variable name")
        value = source.get(name)
        if not value:
            raise UserError(f"secret {name} is not set in the environment; export it before the run "
                            f"(export {name}=...)")
        if len(value) < MIN_LENGTH:
            raise UserError(f"secret {name} is shorter than {MIN_LENGTH} characters; masking it would hide "
                            "ordinary text, so it is refused")
        values[name] = value
    return values


def _base64_forms(secret: bytes) -> set[bytes]:
    """The secret as it appears inside any base64 text, whatever its offset in the encoded data."""
    import base64  # only runs with secrets pay for it

    forms = set()
    for offset in range(3):
        total = offset + len(secret)
        encoded = base64.b64encode(b"\0" * offset + secret)
        # keep the characters that depend on secret bytes only: not those shared with the bytes before it
        # (the first 0, 2 or 3 characters for offsets 0, 1, 2), nor with the bytes after it
        core = encoded[(offset * 4 + 2) // 3: 4 * (total // 3) + total % 3]
        if len(core) >= MIN_LENGTH:
            forms.add(core)
            forms.add(core.replace(b"+", b"-").replace(b"/", b"_"))  # the URL-safe alphabet
    return forms


def _utf8(text: str) -> bytes:
    """Text as the bytes a step writes; a secret read from undecodable environment bytes keeps those bytes."""
    return text.encode("utf-8", "surrogateescape")


_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _url_forms(secret: str) -> set[bytes]:
    """The secret percent-encoded as the usual URL encoders write it: `/` escaped or kept (quote's default),
    spaces as %20 or `+` (quote_plus), escapes in upper or lower case."""
    from urllib.parse import quote, quote_plus  # only runs with secrets pay for it

    forms = set()
    for safe in ("", "/"):
        for encoded in (quote(secret, safe=safe, errors="surrogateescape"),
                        quote_plus(secret, safe=safe, errors="surrogateescape")):
            forms.add(_utf8(encoded))
            forms.add(_utf8(_PERCENT_ESCAPE.sub(lambda escape: escape.group().lower(), encoded)))
    return forms


def _json_forms(secret: str) -> set[bytes]:
    """The secret inside a JSON string: escaped to ASCII (json.dumps' default) or not (ensure_ascii=False),
    and with `/` written as `\\/` as some encoders do."""
    forms = set()
    for ensure_ascii in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms.add(_utf8(escaped))
        forms.add(_utf8(escaped.replace("/", "\\/")))
    return forms


def _pattern(forms: Iterable[bytes]) -> re.Pattern[bytes]:
    """One regex for all forms, their common prefixes merged (a trie), so each position in the output is read
    once along a single path instead of once per form. At every point where a form could end, going on is
    tried first: at a given position the longest form that matches wins."""
    trie: dict[int, dict] = {}
    end = -1  # the key marking the end of a form: no byte is negative
    for form in forms:
        node = trie
        for byte in form:
            node = node.setdefault(byte, {})
        node[end] = {}

    def build(node: dict[int, dict]) -> bytes:
        run = bytearray()
        while len(node) == 1 and end not in node:  # a stretch without branches: plain text, no recursion
            byte, node = next(iter(node.items()))
            run.append(byte)
        literal = re.escape(bytes(run))
        branches = [re.escape(bytes([byte])) + build(child) for byte, child in sorted(node.items()) if byte != end]
        if not branches:
            return literal
        body = b"(?:" + b"|".join(branches) + b")"
        return literal + (body + b"?" if end in node else body)

    return re.compile(build(trie))


class Masker:
    """Replaces every known form of every secret by ***: plain, base64 (standard and URL-safe alphabets),
    percent-encoded and JSON-escaped. The forms are built once into one pattern that prefers the longest
    form matching at a position, so a longer form is never half-masked by a shorter one; `longest` tells a
    streaming writer how much output to hold back."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[bytes] = set()
        for secret in secrets:
            raw = _utf8(secret)
            forms.add(raw)
            forms |= _url_forms(secret)
            forms |= _json_forms(secret)
            forms |= _base64_forms(raw)
        self.forms = sorted((f for f in forms if f), key=lambda form: (-len(form), form))
        self.longest = max((len(f) for f in self.forms), default=0)
        self._pattern = _pattern(self.forms) if self.forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def safe_cut(self, data: bytes, cut: int) -> int:
        """A position at or before `cut` where `data` can be split for writing: no form matching across it is
        cut, nor one that could still grow, with the bytes after `data`, into a longer form."""
        if self._pattern:
            for match in self._pattern.finditer(data):
                if match.start() >= cut:
                    break
                if match.start() + self.longest > cut:
                    return match.start()
        return cut

    def bytes(self, data: bytes) -> bytes:
        return self._pattern.sub(MASK, data) if self._pattern else data

    def text(self, text: str) -> str:
        return self.bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape") \
            if self._pattern else text

    def json_text(self, text: str) -> str:
        """A JSON value with secrets masked; a value that is all secret becomes the string "***"."""
        masked = self.text(text)
        if masked == text:
            return text
        try:
            json.loads(masked)
            return masked
        except ValueError:
            return json.dumps(masked)

    def scrub(self, value: Any) -> Any:
        """Mask every string inside an event (NamedTuples, dicts, lists, tuples)."""
        if not self._pattern or isinstance(value, enum.Enum):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.bytes(value)
        names = getattr(type(value), "_fields", None)
        if names is not None:  # an event or outcome (NamedTuple)
            changes = {name: self.scrub(item) for name, item in zip(names, value)
                       if isinstance(item, (str, bytes, dict, list, tuple))}
            return value._replace(**changes) if changes else value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value
