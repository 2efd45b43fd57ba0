"""The repository link in the header appears when, and only when, ``_config.yml`` names a repository.

``repository: url:`` in ``_config.yml`` is the one place the project's address is kept. Jupyter
Book refuses ``use_repository_button: true`` without a URL, so the button is switched on here,
from the URL, instead of by hand in a second setting.
"""
from __future__ import annotations


def repository_url(config) -> str:
    """The repository URL from ``_config.yml`` (``repository: url:``), or ``""`` when none is set."""
    return (config.html_theme_options or {}).get("repository_url", "").strip()


def _show_repository_button(app, config) -> None:
    if repository_url(config):
        config.html_theme_options["use_repository_button"] = True


def setup(app):
    app.connect("config-inited", _show_repository_button)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
