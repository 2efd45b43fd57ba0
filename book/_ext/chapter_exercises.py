"""Number exercises per chapter: the first exercise of every page is Exercise 1.

sphinx-exercise registers exercises as an enumerable node, so Sphinx numbers them with figures and
tables. Without a numbered toctree, Sphinx's counter runs across the whole book (the fifth chapter
would start at Exercise 16). After Sphinx has assigned its numbers (``env-get-updated``, the table of
contents collector runs first), this restarts the exercise counter on every page, keeping the order.
A chapter added later needs nothing: every page of the table of contents is renumbered the same way.
"""
from __future__ import annotations

EXERCISE = "exercise"


def renumber_per_page(numbers_by_page: dict[str, dict[str, dict[str, tuple[int, ...]]]]) -> None:
    """Rewrite the ``exercise`` entries of Sphinx's ``env.toc_fignumbers`` in place: 1, 2, … per page."""
    for numbers in numbers_by_page.values():
        exercises = numbers.get(EXERCISE)
        if exercises:
            ordered = sorted(exercises, key=exercises.__getitem__)
            numbers[EXERCISE] = {label: (position,) for position, label in enumerate(ordered, start=1)}


def _renumber(app, env) -> list[str]:
    renumber_per_page(env.toc_fignumbers)
    return []


def setup(app):
    # After sphinx.environment.collectors.toctree (priority 500) has assigned the book-wide numbers.
    app.connect("env-get-updated", _renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
