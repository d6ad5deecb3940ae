"""The piped output writer: stamps, masks, partial and endless lines."""
from __future__ import annotations

import os
import re
from pathlib import Path

from engine.process import LINE_LIMIT, _LineWriter
from engine.secrets import Masker


def written(tmp_path: Path, chunks: list[bytes], stamp: bool = True, secrets: tuple[str, ...] = ()) -> bytes:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = _LineWriter(fd, "out", stamp, Masker(secrets) if secrets else None)
    for chunk in chunks:
        writer.feed(chunk)
    writer.close()
    os.close(fd)
    return path.read_bytes()


def test_every_line_gets_one_prefix_across_chunks(tmp_path: Path) -> None:
    text = written(tmp_path, [b"one\ntw", b"o\nthree\n", b"four"]).decode()
    lines = text.splitlines()
    assert [re.sub(r"^\S+Z out\| ", "", line) for line in lines] == ["one", "two", "three", "four"]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z out\| ", line) for line in lines)


def test_unstamped_output_is_unchanged(tmp_path: Path) -> None:
    assert written(tmp_path, [b"a\nb", b"c\n"], stamp=False) == b"a\nbc\n"


def test_secret_split_across_chunks_and_endless_lines_is_masked(tmp_path: Path) -> None:
    secret = "hunter2-secret"
    data = written(tmp_path, [b"x" * (LINE_LIMIT + 10) + b"hunter2-", b"secret and more\n"], stamp=False,
                   secrets=(secret,))
    assert secret.encode() not in data and b"***" in data
