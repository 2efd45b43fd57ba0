"""Shared test set-up: a private trained-model cache and quiet progress bars for every test."""
import os

import pytest


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("COMPANION_PROGRESS", "0")
    if "COMPANION_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "model-cache"))
