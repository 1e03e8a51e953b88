"""Logging for every Huifang process: one format, and no borrower data in any line written.

Each entry point calls `configure()` once: `ivr.cli.main` (every command, and so every process the
product starts: dialer, dialog server, web app, notifier, importer, demo) and app.py (a WSGI server,
which has set up its own handlers before it imports the app). It installs `RedactFilter` on every
handler the process writes through. The log calls themselves pass masked values (ivr.redact); the
filter is the safety net for what they cannot see: an AMI message dumped whole, an exception text
naming a channel, a werkzeug request line with a number in its query string. A filter on a handler,
unlike one on a logger, sees the records of every logger that propagates to it.

Uncaught exceptions (main thread and other threads) are logged through the same handlers instead of
printed raw, so a traceback is scrubbed too.
"""
from __future__ import annotations

import logging
import sys
import threading

from . import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactFilter(logging.Filter):
    """Masks phone-number shapes in a record's message, exception text and stack (ivr.redact.scrub).
    The record is changed in place, so every later handler writes the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as logging does
            return True
        clean = redact.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = redact.scrub(record.stack_info)
        return True


def protect_handlers() -> int:
    """Put a RedactFilter on every handler of every logger that has none yet; returns how many got one."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    added = 0
    for lg in loggers:
        for handler in lg.handlers:
            if not any(isinstance(f, RedactFilter) for f in handler.filters):
                handler.addFilter(RedactFilter())
                added += 1
    return added


def _log_uncaught(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("ivr").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("ivr").critical("uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def configure(verbose: bool = False) -> None:
    """The process's logging: stderr, our format, INFO (DEBUG with `verbose`), every handler filtered."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    protect_handlers()
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
