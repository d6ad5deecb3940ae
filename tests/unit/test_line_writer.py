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


def test_an_endless_line_is_never_cut_through_a_secret_or_a_form_still_growing(tmp_path: Path) -> None:
    """The cut of a line over LINE_LIMIT keeps `longest` bytes back; a whole secret just before that tail, or a
    plain secret that is the start of its longer URL form, must not be split (or half-masked) by the cut."""
    secret = "s3cr3t/Tok+en"
    longest = Masker((secret,)).longest
    for i, (tail, form) in enumerate([(tail, form) for tail in (b"y" * (longest - 5), b"%2F" + b"y" * 3)
                                      for form in (secret.encode(), b"s3cr3t%2FTok%2Ben")]):
        (tmp_path / str(i)).mkdir()
        data = written(tmp_path / str(i), [b"x" * (LINE_LIMIT + 10) + form + tail, b"z\n"], stamp=False,
                       secrets=(secret,))
        assert form not in data and b"Tok" not in data and data.count(b"***") == 1, data[-80:]


def test_a_failed_steps_last_output_line_becomes_part_of_its_reason() -> None:
    from engine.process import LAST_LINE_LIMIT, last_output_line

    header = b"===== attempt 2 of step s started 2026-01-01T00:00:00.000000Z =====\n"
    assert last_output_line(b"old attempt output\n" + header) is None  # this attempt printed nothing
    assert last_output_line(header + b"working\nerror: --limit is required\n\n  \n") == "error: --limit is required"
    assert last_output_line(header + b"2026-01-01T00:00:00.000001Z err| ValueError: bad\n") == "ValueError: bad"
    assert last_output_line(b"tab\there \x1b[31mred\xff\n") == "tab?here ?[31mred\ufffd"
    long = last_output_line(b"x" * 500)
    assert long is not None and len(long) == LAST_LINE_LIMIT and long.endswith("...")
