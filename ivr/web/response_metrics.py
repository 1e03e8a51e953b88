"""Counts the web app's responses by status code (`huifang_web_responses_total{code}`).

Why it looks like this: a WSGI wrapper that `ivr web serve` puts around the Flask app, so every
response is counted, errors Flask turns into a 500 included, without touching any blueprint. The
code is the only label (a closed set): never a path, which carries ids.
"""
from __future__ import annotations

from .. import metrics


def count_responses(wsgi_app):
    def app(environ, start_response):
        def counting_start_response(status, headers, exc_info=None):
            metrics.WEB_RESPONSES.labels(str(status).split(" ", 1)[0]).inc()
            return start_response(status, headers, exc_info)
        return wsgi_app(environ, counting_start_response)
    return app
