"""Flask entry point: `flask --app app run` or any WSGI server (`app:app`)."""
from ivr import logsetup
from ivr.web import create_app

logsetup.configure()  # after the server's own logging set-up: its handlers get the redaction filter too
app = create_app()
