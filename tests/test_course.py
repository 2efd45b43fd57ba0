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
