"""Rows of the reliability suite (issue 21): predict."""

from bad_inputs import case  # noqa: F401
