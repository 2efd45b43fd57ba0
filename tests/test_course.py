"""The course guide covers the book: every chapter in its syllabus, every exercise in its assignments."""
import re

import yaml

from notebook_rules import NOTEBOOKS, ROOT, exercises, load

COURSE = (ROOT / "book" / "course.md").read_text(encoding="utf-8")


def test_the_course_guide_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert "book/course" in [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def test_every_chapter_is_in_the_syllabus():
    linked = set(re.findall(r"\{doc\}`\.\./notebooks/(\w+)`", COURSE))
    assert linked == {path.stem for path in NOTEBOOKS}
    assert "{doc}`distributed`" in COURSE


def test_every_exercise_is_assigned():
    labels = {re.search(r":label: (\S+)", text).group(1) for path in NOTEBOOKS for text in exercises(load(path))}
    assigned = set(re.findall(r"\{ref\}`[^`<]*<(ex-[^>]+)>`", COURSE))
    assert labels == assigned


def test_the_run_and_reading_times_cover_every_chapter_and_the_reading_times_hold():
    """The table tools/course_times.py writes: one row per chapter, reading times as the prose gives them."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from course_times import END, START, reading_minutes

    block = COURSE.split(START, 1)[1].split(END, 1)[0]
    rows = dict(re.findall(r"\{doc\}`\.\./notebooks/(\w+)` \| \d+ \| (\d+) \|", block))
    assert set(rows) == {path.stem for path in NOTEBOOKS}
    for path in NOTEBOOKS:
        assert abs(int(rows[path.stem]) - reading_minutes(path)) <= 1, f"{path.stem}: rerun tools/course_times.py"
