"""Rows of the reliability suite (issue 21): tools."""

from bad_inputs import case  # noqa: F401
