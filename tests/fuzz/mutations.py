"""Hypothesis strategies that damage the bytes of a shipped file the way disks and people do."""

from __future__ import annotations

from hypothesis import strategies as st

JUNK = st.sampled_from(
    [b"\x00", b"\xff", b"\xef\xbb\xbf", b"\r", b"\r\n", b"\n", b'"', b",", b"=", b"[", b"]",
     b"{", b"}", b"nan", b"inf", b"-1", b"1e400", b"\\", b"\t", b"#", b"'''", b'"""', b"\xc3"]
)  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` after 1-4 random edits: truncation, byte flips, junk inserted, a line
    duplicated, dropped or swapped."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "dup", "drop", "swap"]))
        lines = bytes(data).split(b"\n")
        if kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(JUNK)
        elif kind in ("dup", "drop", "swap") and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "dup":
                lines.insert(i, lines[i])
            elif kind == "drop":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)
