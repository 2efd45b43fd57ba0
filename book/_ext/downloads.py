"""Publish the code on the site: the ``companion`` wheel and the chapters' notebooks, built by the book build.

On ``builder-inited`` (HTML builds only) this builds the package's wheel from ``pyproject.toml`` and
zips ``notebooks/*.ipynb`` (as committed: without outputs) into ``<site>/downloads/``. The
``{companion-downloads}`` and ``{companion-install}`` directives write the links and the install
commands with the real file names, so the page never names a file the build did not make.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

DOWNLOADS = "downloads"
NOTEBOOKS_ZIP = "notebooks.zip"
# A fixed timestamp keeps the zip byte-identical between builds of the same notebooks.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
# What a reader installs next to the wheel to see the chapters as the site shows them.
LAB_PACKAGES = ("jupyterlab", "jupyterlab-myst")


def build_wheel(project: Path, out: Path) -> Path:
    """Build the package's wheel into ``out`` from a scratch copy (the checkout gets no build/ folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(project / name, source / name)
        shutil.copytree(project / "companion", source / "companion",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--no-index", "--wheel-dir", str(out), str(source)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the companion wheel failed:\n{result.stdout}\n{result.stderr}")
    return out / wheel_name(project)


def wheel_name(project: Path) -> str:
    """The wheel's file name, from ``pyproject.toml``'s name and version (a pure-Python wheel)."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return f"{meta['name'].replace('-', '_')}-{meta['version']}-py3-none-any.whl"


def pinned(project: Path, names: tuple[str, ...]) -> list[str]:
    """The ``name==version`` lines of ``requirements.txt`` for ``names``, in that order."""
    pins = {}
    for line in (project / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            pins[line.split("==")[0].strip().lower()] = line.strip()
    missing = [name for name in names if name.lower() not in pins]
    if missing:
        raise RuntimeError(f"requirements.txt pins none of {missing}")
    return [pins[name.lower()] for name in names]


def zip_notebooks(notebooks: list[Path], target: Path) -> Path:
    """Zip the notebooks into ``target`` as ``notebooks/<name>.ipynb``, deterministically."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for notebook in sorted(notebooks):
            info = zipfile.ZipInfo(f"notebooks/{notebook.name}", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, notebook.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return target


def _publish(app) -> None:
    if app.builder.format != "html":
        return
    project = Path(app.srcdir)
    out = Path(app.outdir) / DOWNLOADS
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel = build_wheel(project, out)
    if not wheel.exists():
        raise RuntimeError(f"the build made no {wheel.name}; check pyproject.toml's name and version")
    zip_notebooks(list((project / "notebooks").glob("*.ipynb")), out / NOTEBOOKS_ZIP)


class CompanionDownloads(SphinxDirective):
    """The download links, with the real file names."""

    def run(self) -> list[nodes.Node]:
        here = self.env.app.builder.get_target_uri(self.env.docname)
        items = nodes.bullet_list()
        for filename, text in ((wheel_name(Path(self.env.srcdir)), "The companion package, as a wheel"),
                               (NOTEBOOKS_ZIP, "The chapters, as Jupyter notebooks")):
            para = nodes.paragraph()
            para += nodes.reference("", text, refuri=relative_uri(here, f"{DOWNLOADS}/{filename}"),
                                    classes=["companion-download"])
            para += nodes.Text(f" ({filename})")
            item = nodes.list_item()
            item += para
            items += item
        repository = (self.config.html_theme_options or {}).get("repository_url", "").strip()
        if repository:  # _config.yml's repository: url:, when the project has one
            para = nodes.paragraph()
            para += nodes.reference("", "The source repository", refuri=repository)
            para += nodes.Text(" (to clone, with the tests and the book's sources)")
            item = nodes.list_item()
            item += para
            items += item
        return [items]


class CompanionInstall(SphinxDirective):
    """The commands that install the wheel (with the pinned JupyterLab packages) and open the notebooks."""

    def run(self) -> list[nodes.Node]:
        project = Path(self.env.srcdir)
        commands = "\n".join([
            "python -m venv book-env && . book-env/bin/activate",
            f"pip install {wheel_name(project)} {' '.join(pinned(project, LAB_PACKAGES))}",
            f"unzip {NOTEBOOKS_ZIP}",
            "jupyter lab notebooks/",
        ])
        return [nodes.literal_block(commands, commands, language="bash")]


def setup(app):
    app.connect("builder-inited", _publish)
    app.add_directive("companion-downloads", CompanionDownloads)
    app.add_directive("companion-install", CompanionInstall)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
