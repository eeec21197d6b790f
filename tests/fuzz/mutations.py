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


ODD_VALUES = st.sampled_from(
    [None, "", "x", "\x00", "../../x", "/etc/passwd", "a" * 5000, 0, -1, 2**63, 10**30, 1.5,
     -0.0, float("inf"), float("-inf"), float("nan"), 1e300, True, False, [], [1, "a"], {},
     {"a": 1}, "2024-01-01T00:00:00", "24:00", "* * *"]
)  # fmt: skip


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found: list[tuple[object, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_document(draw: st.DrawFn, document: dict[str, object]) -> dict[str, object]:
    """A deep copy of a parsed TOML ``document`` with 1-3 structural edits: a key dropped, a
    key duplicated under a misspelt name, or a value replaced by one of another type."""
    import copy

    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: object = doc
        for part in path[:-1]:
            parent = parent[part]  # type: ignore[index]
        last = path[-1]
        kind = draw(st.sampled_from(["drop", "typo", "retype", "retype"]))
        if kind == "drop":
            del parent[last]  # type: ignore[attr-defined]
        elif kind == "typo" and isinstance(parent, dict):
            parent[f"{last}_"] = copy.deepcopy(parent[last])
        else:
            value = copy.deepcopy(draw(ODD_VALUES))  # never share (and then mutate) a constant
            if value is None:
                del parent[last]  # type: ignore[attr-defined]
            else:
                parent[last] = value  # type: ignore[index]
    return doc
