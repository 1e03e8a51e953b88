# The two commands of the README. Both install what they need first (scripts/setup.sh).
.PHONY: demo test setup unit integration

demo: setup
	.venv/bin/ivr demo

test: setup
	.venv/bin/ruff check ivr tests bench app.py
	.venv/bin/mypy --strict ivr/ami ivr/db
	.venv/bin/python -m pytest -q

setup:
	./scripts/setup.sh

unit: setup
	.venv/bin/python -m pytest -q tests/unit

integration: setup
	.venv/bin/python -m pytest -q tests/integration
