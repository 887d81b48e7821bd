"""Build uk_interviews(_heldout).jsonl from the marked-up SYNTHETIC excerpts in the .md files.

Run: .venv/bin/python bench/gold/build_gold.py
Rows: {"id", "format", "text", "spans": [[start, end, TYPE], ...], "synthetic": true}; offsets are Python
str indices into "text" (end exclusive), like ../shared/eval/tab.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK = re.compile(r"\[\[([A-Z_]+)\|(.+?)\]\]")
HEADER = re.compile(r"^## (\S+) (plain|txt|vtt)\s*$")


def parse(markup: str) -> list[dict[str, object]]:
    body = re.sub(r"<!--.*?-->", "", markup, flags=re.S)
    rows: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is None:
            return
        raw = "\n".join(lines).strip("\n")
        text, spans, cursor = [], [], 0
        out_len = 0
        for match in MARK.finditer(raw):
            before = raw[cursor : match.start()]
            text.append(before)
            out_len += len(before)
            surface = match.group(2)
            spans.append([out_len, out_len + len(surface), match.group(1)])
            text.append(surface)
            out_len += len(surface)
            cursor = match.end()
        text.append(raw[cursor:])
        current["text"] = "".join(text)
        current["spans"] = spans
        rows.append(current)

    for line in body.splitlines():
        header = HEADER.match(line)
        if header:
            close()
            current = {"id": header.group(1), "format": header.group(2), "synthetic": True}
            lines = []
        elif current is not None:
            lines.append(line)
    close()
    return rows


def main() -> None:
    for name in ("uk_interviews", "uk_interviews_heldout"):
        rows = parse((HERE / f"{name}.md").read_text(encoding="utf-8"))
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                for start, end, _ in row["spans"]:  # type: ignore[union-attr]
                    assert str(row["text"])[start:end].strip(), row["id"]
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        mentions = sum(len(r["spans"]) for r in rows)  # type: ignore[arg-type]
        print(f"{name}: {len(rows)} excerpts, {mentions} identifier mentions")


if __name__ == "__main__":
    main()
