"""Write the course guide's table of run and reading times per chapter (book/course.md).

Run time: how long each notebook took to execute in the last book build, read from the shared
execution cache that ``make book`` fills (``_build/.jupyter_cache``; myst-nb records each notebook's
``execution_seconds``). Reading time: the words of a chapter's prose (markdown cells, code and math
left out) at ``WORDS_PER_MINUTE``, rounded up to whole minutes.

    make book && .venv/bin/python tools/course_times.py "a 2-core machine, model caches warm"

The table sits in book/course.md between the markers START and END and is replaced there.
"""
from __future__ import annotations

import json
import math
import re
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "book" / "course.md"
START, END = "<!-- run-times:start -->", "<!-- run-times:end -->"
WORDS_PER_MINUTE = 200
FENCE = re.compile(r"```.*?```|:::.*?:::|\$\$.*?\$\$", re.S)


def reading_minutes(notebook: Path) -> int:
    """Minutes to read a chapter's prose: ⌈words / WORDS_PER_MINUTE⌉ (code blocks and display math left out)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    prose = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    words = re.findall(r"[A-Za-z][\w'’-]*", FENCE.sub(" ", prose))
    return math.ceil(len(words) / WORDS_PER_MINUTE)


def run_seconds(cache_dir: Path) -> dict[str, float]:
    """Execution seconds per notebook file name, from a jupyter-cache folder."""
    from jupyter_cache import get_cache

    return {Path(record.uri).name: record.data["execution_seconds"]
            for record in get_cache(str(cache_dir)).list_cache_records()
            if record.uri and "execution_seconds" in record.data}


def table(notebooks: list[Path], seconds: dict[str, float], where: str) -> str:
    rows = ["| Chapter | Run time (s) | Reading time (min) |", "|---|---|---|"]
    for path in notebooks:
        if path.name not in seconds:
            raise SystemExit(f"{path.name} has no execution record: run `make book` first")
        rows.append(f"| {{doc}}`../notebooks/{path.stem}` | {seconds[path.name]:.0f} | {reading_minutes(path)} |")
    note = (f"Run times measured in one book build on {date.today().isoformat()}, {where}; reading times "
            f"at {WORDS_PER_MINUTE} words a minute, prose only. Written by `tools/course_times.py`.")
    return "\n".join([START, "", *rows, "", note, "", END])


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else "this machine"
    notebooks = sorted((ROOT / "notebooks").glob("ch*.ipynb"))
    text = COURSE.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{COURSE} has no {START} … {END} markers")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    new = table(notebooks, run_seconds(ROOT / "_build" / ".jupyter_cache"), where)
    COURSE.write_text(before + new + after, encoding="utf-8")


if __name__ == "__main__":
    main()
