"""Helpers of the test suite (not tests): checkpoint writers, the Hub stand-in, image sets, the
reliability suite's rows. The tests import them as ``from helpers import x`` or
``from helpers.x import y`` (pytest puts tests/ on sys.path, beside conftest.py); fixtures stay
in conftest.py."""
