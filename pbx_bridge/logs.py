"""Structured logging: JSON lines when not on a terminal, readable on one; secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from pbx_bridge.config.secrets import known_secret_values

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api_?key|access_key|authorization|"
                         r"connection_string|credential)", re.IGNORECASE)


def _scrub(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v, secrets)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


def redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]
                   ) -> MutableMapping[str, Any]:
    """Mask values under secret-looking keys and any resolved secret value anywhere."""
    secrets = known_secret_values()
    for key in list(event):
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
        else:
            event[key] = _scrub(event[key], secrets)
    return event


def configure_logging(level: str = "info", *, json: bool | None = None,
                      stream: Any = None) -> None:
    stream = stream or sys.stderr
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
