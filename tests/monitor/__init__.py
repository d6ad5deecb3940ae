"""Browser, API and benchmark tests of the Dash monitor.

A package, so that its conftest does not shadow tests/conftest.py.
"""
