"""The exception types everyone shares: a mistake the user can fix from the message alone."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix from the message alone: one line, exit status 2."""


class ConfigError(UserError, ValueError):
    """A config value of the wrong type or out of range; the message names the key."""
