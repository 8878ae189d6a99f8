# Convenience aliases; the scripts are the source of truth (they work without make).
.PHONY: demo test bootstrap lint
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bootstrap:
	bash scripts/bootstrap.sh
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
