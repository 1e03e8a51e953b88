# The two commands of the README. Both install what they need first (scripts/setup.sh).
.PHONY: demo test setup unit integration fuzz

demo: setup
	.venv/bin/ivr demo

# pytest-xdist, one worker per core: real calls wait on the clock, so two stacks calling at once halve
# the wall time; tests/support/distribution.py keeps each real stack's tests on one worker
TEST_WORKERS ?= auto

test: setup
	.venv/bin/ruff check ivr tests bench app.py
	.venv/bin/mypy --strict ivr/ami ivr/db ivr/dialer
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

setup:
	./scripts/setup.sh

unit: setup
	.venv/bin/python -m pytest -q tests/unit

integration: setup
	.venv/bin/python -m pytest -q tests/integration

# the property tests with fresh random examples, ten times as many (the suite's are the same every run)
fuzz: setup
	IVR_FUZZ=explore .venv/bin/python -m pytest -q -n $(TEST_WORKERS) --timeout 3600 \
		tests/unit/test_fuzz_api.py tests/unit/test_fuzz_web.py tests/unit/test_fuzz_importer.py \
		tests/unit/test_fuzz_flow.py tests/unit/test_protocol_fuzz.py
