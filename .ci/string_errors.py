#!/usr/bin/env python3
"""Library code returns typed errors, never strings.

Lists every `Result<_, String>` (also split over lines, nested, in aliases and trait impls),
`Ok::<_, String>`, `Err::<_, String>` and `type Err = String` in crates/*/src, leaving out
tests (`tests/`, `tests.rs`, `#[cfg(test)]` modules) and `testing` modules. Exits 1 when it
finds one. Usage: string_errors.py [ROOT]
"""

import os
import re
import sys

SKIPPED_PARTS = {"tests", "tests.rs", "testing", "testing.rs"}
TEST_MODULE = re.compile(
    r"#\[cfg\([^\]]*\btest\b[^\]]*\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{"
    r"|(?:pub(?:\([^)]*\))?\s+)?mod\s+testing\s*\{"
)
START = re.compile(r"\b(?:Result\s*<|Ok::<|Err::<)|\btype\s+Err\s*=\s*String\b")


def blank(text, start, end):
    """`text` with [start, end) replaced by spaces, newlines kept (line numbers stay)."""
    middle = re.sub(r"[^\n]", " ", text[start:end])
    return text[:start] + middle + text[end:]


def without_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def without_test_modules(text):
    while True:
        found = TEST_MODULE.search(text)
        if not found:
            return text
        depth, i = 0, found.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        text = blank(text, found.start(), i + 1)


def generic_arguments(text, i):
    """The top-level arguments of the `<...>` opening at `text[i]` and the index past its
    `>`, or None."""
    depth, args, current = 0, [], ""
    while i < len(text):
        c = text[i]
        if c == ">" and text[i - 1] == "-":
            current += c
        elif c in "<([":
            depth += 1
            if depth > 1:
                current += c
        elif c in ">)]":
            depth -= 1
            if depth == 0:
                return args + [current], i + 1
            current += c
        elif c == "," and depth == 1:
            args.append(current)
            current = ""
        elif c in ";{}":
            return None
        else:
            current += c
        i += 1
    return None


def findings(path):
    with open(path, encoding="utf-8") as f:
        text = without_test_modules(without_comments(f.read()))
    for m in START.finditer(text):
        end, hit = m.end(), m.group().startswith("type")
        if not hit:
            parsed = generic_arguments(text, m.end() - 1)
            if parsed:
                args, end = parsed
                if args and not args[-1].strip():
                    args = args[:-1]  # a trailing comma
                hit = len(args) >= 2 and args[-1].strip() in ("String", "std::string::String")
        if hit:
            line = text.count("\n", 0, m.start()) + 1
            yield line, " ".join(text[m.start():end].split())


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    found = 0
    crates = os.path.join(root, "crates")
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        for directory, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_PARTS)
            for name in sorted(files):
                if not name.endswith(".rs") or name in SKIPPED_PARTS:
                    continue
                path = os.path.join(directory, name)
                for line, snippet in findings(path):
                    print(f"{os.path.relpath(path, root)}:{line}: {snippet}")
                    found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
