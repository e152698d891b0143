"""Reading the README's code blocks, so that tests run them as printed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language tag ("" when none), text, the ``##`` section it
    is in, its place among that section's blocks (from 1) and the line its fence opens on."""

    language: str
    text: str
    section: str
    index: int
    line: int

    @property
    def name(self) -> str:
        """A test id that survives edits elsewhere in the README: section, place, language."""
        return f"{self.section or 'top'} #{self.index} {self.language or 'untagged'}"


def code_blocks() -> list[Block]:
    """Every fenced block of the README, in order."""
    text = README.read_text(encoding="utf-8")
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (.+)$", text, re.M)]
    blocks: list[Block] = []
    for match in _FENCE.finditer(text):
        section = next((h for at, h in reversed(headings) if at < match.start()), "")
        index = 1 + sum(block.section == section for block in blocks)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(match.group(1), match.group(2), section, index, line))
    return blocks


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section that starts with ``## heading``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, re.S)
