"""The emulator fixtures of tests/http, shared with the enrichment tests."""

from tests.http.conftest import emulator, make_emulator  # noqa: F401  (pytest fixtures)
