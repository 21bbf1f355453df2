"""Printing results: human text by default, JSON for scripts."""

from __future__ import annotations

import json

import click


def emit(data, as_json: bool, human: str) -> None:
    """Print `data` as JSON for scripts, or the human text."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else human)
