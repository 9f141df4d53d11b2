"""The console's fixtures for every test file here: `desk`, a browser-like client per staff
member on the live server."""

from tests.console.test_console import desk  # noqa: F401
