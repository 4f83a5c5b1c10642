"""Rows of the reliability suite (issue 21): presets."""

from bad_inputs import case  # noqa: F401
