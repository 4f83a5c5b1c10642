"""Rows of the reliability suite (issue 21): train."""

from bad_inputs import case  # noqa: F401
