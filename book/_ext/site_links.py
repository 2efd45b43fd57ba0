"""The repository's buttons appear when, and only when, ``_config.yml`` names a repository.

``repository: url:`` in ``_config.yml`` is the one place the project's address is kept. Jupyter
Book refuses ``use_repository_button: true`` without a URL, so the buttons are switched on here,
from the URL, instead of by hand in second settings: the repository button, "edit this page", and
on the chapters (notebooks) the Binder and Colab launch buttons. All of them are plain links; none
loads anything from those hosts.
"""
from __future__ import annotations

BINDER = "https://mybinder.org"
COLAB = "https://colab.research.google.com"


def repository_url(config) -> str:
    """The repository URL from ``_config.yml`` (``repository: url:``), or ``""`` when none is set."""
    return (config.html_theme_options or {}).get("repository_url", "").strip()


def _show_repository_buttons(app, config) -> None:
    if not repository_url(config):
        return
    options = config.html_theme_options
    options["use_repository_button"] = True
    options["use_edit_page_button"] = True
    launch = dict(options.get("launch_buttons") or {})
    launch.update(binderhub_url=BINDER, colab_url=COLAB, thebe=False)
    options["launch_buttons"] = launch


def setup(app):
    app.connect("config-inited", _show_repository_buttons)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
