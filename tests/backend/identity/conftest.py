"""The identity tests' client: "ivy", a member, made afresh for each test that asks for it (the
in-process app and its other users come from tests/backend/conftest.py)."""

from __future__ import annotations

import pytest

from tests.utils.auth import LabTestClient


@pytest.fixture
def client(app):
    return LabTestClient(app, "ivy")
