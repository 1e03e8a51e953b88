"""The web app for supervisors, agents and QA reviewers (application factory, blueprints per area)."""
from __future__ import annotations

from flask import Flask, g

from .. import config
from ..db.connect import connect


def create_app(settings: config.Settings | None = None, **overrides) -> Flask:
    settings = settings or config.load()
    app = Flask(__name__)
    app.config.update(SETTINGS=settings, DATABASE=str(settings.database), **overrides)

    @app.teardown_appcontext
    def close_db(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.conn.close()

    from .calls import bp as calls_bp
    app.register_blueprint(calls_bp)
    return app


def get_db():
    """One database handle per request."""
    from flask import current_app
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db
