"""The book's local Sphinx extensions (book/_ext): per-chapter exercise numbers and the downloads."""
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import chapter_exercises  # noqa: E402
import downloads  # noqa: E402


def test_exercises_restart_on_every_page_in_order():
    numbers = {
        "notebooks/ch01": {"exercise": {"ex-a": (1,), "ex-b": (2,)}, "figure": {"fig-1": (1,)}},
        "notebooks/ch03_4": {"exercise": {"ex-z": (17,), "ex-y": (16,), "ex-x": (18,)}},
        "book/references": {},
    }
    chapter_exercises.renumber_per_page(numbers)
    assert numbers["notebooks/ch01"]["exercise"] == {"ex-a": (1,), "ex-b": (2,)}
    assert numbers["notebooks/ch03_4"]["exercise"] == {"ex-y": (1,), "ex-z": (2,), "ex-x": (3,)}
    assert numbers["notebooks/ch01"]["figure"] == {"fig-1": (1,)}  # other kinds keep their numbers
    assert numbers["book/references"] == {}


def test_notebooks_zip_is_deterministic_and_complete(tmp_path):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    first = downloads.zip_notebooks(notebooks, tmp_path / "a.zip").read_bytes()
    second = downloads.zip_notebooks(list(reversed(notebooks)), tmp_path / "b.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == [f"notebooks/{n.name}" for n in notebooks]
        assert archive.read(f"notebooks/{notebooks[0].name}") == notebooks[0].read_bytes()


def test_wheel_name_and_pins_come_from_the_project_files():
    assert downloads.wheel_name(ROOT).startswith("companion-")
    assert downloads.wheel_name(ROOT).endswith("-py3-none-any.whl")
    jupyterlab, myst = downloads.pinned(ROOT, downloads.LAB_PACKAGES)
    assert jupyterlab.startswith("jupyterlab==") and myst.startswith("jupyterlab-myst==")
    with pytest.raises(RuntimeError, match="no-such-package"):
        downloads.pinned(ROOT, ("no-such-package",))
