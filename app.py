"""Flask entry point: `flask --app app run` or any WSGI server (`app:app`)."""
from ivr.web import create_app

app = create_app()
