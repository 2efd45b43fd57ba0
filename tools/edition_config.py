"""Write the Jupyter Book configuration of one edition: ``_config.yml`` with an overlay merged in.

    python tools/edition_config.py zh        # -> _build/_config_zh.yml (the Chinese edition)
    python tools/edition_config.py gettext   # -> _build/_config_gettext.yml (message extraction)
    python tools/edition_config.py pdf       # -> _build/_config_pdf.yml (the English PDF)
    python tools/edition_config.py pdf-zh    # -> _build/_config_pdf-zh.yml (the Chinese PDF)

``_config.yml`` stays the one place for the book's settings; an edition changes only the keys its
overlay names (dictionaries merge key by key; any other value replaces the base value). The output
path is printed, for the Makefile. Standard library + PyYAML only.
"""
from __future__ import annotations

import os
import sys
from copy import deepcopy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Message extraction reads the prose only: no cell runs, one catalogue per page (the layout of
# locales/zh_CN/LC_MESSAGES that the translators' .po files follow).
GETTEXT = {"execute": {"execute_notebooks": "off"}, "sphinx": {"config": {"gettext_compact": False}}}
# Print: no edition switch in the header, widgets drawn by their static figures (book/_static/print.css).
# book/_ext/single_page.py lets the single-page builder render what the HTML builder renders.
PRINT = {"sphinx": {"local_extensions": {"single_page": "book/_ext"},
                    "config": {"html_context": {"edition_switch": None}}}}


def merge(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` merged in, recursively for dictionaries; neither is modified."""
    merged = deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = deepcopy(value)
    return merged


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def edition(name: str) -> dict:
    """The full configuration of edition ``name`` (one of ``zh``, ``gettext``, ``pdf``, ``pdf-zh``)."""
    base = load("_config.yml")
    if name == "zh":
        return merge(base, load("_config_zh.yml"))
    if name == "gettext":
        return merge(base, GETTEXT)
    if name == "pdf":
        return merge(base, PRINT)
    if name == "pdf-zh":
        return merge(merge(base, load("_config_zh.yml")), PRINT)
    raise ValueError(f"edition must be one of zh, gettext, pdf, pdf-zh; got {name!r}")


def write(name: str, folder: Path = ROOT / "_build") -> Path:
    """Write edition ``name``'s configuration into ``folder``; return the file's path."""
    config = edition(name)
    # Jupyter Book finds local extensions relative to the configuration file (other paths are
    # relative to the book's root, whichever file configures it).
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for extension, where in extensions.items():
        extensions[extension] = os.path.relpath(ROOT / where, folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"_config_{name}.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(write(sys.argv[1]).relative_to(ROOT))
