.PHONY: run test setup i18n bench
run:
	bin/run
test:
	bin/test
setup:
	bin/setup
i18n:
	bin/i18n update
bench:
	bin/setup && .venv/bin/python bench/seed_scale.py && .venv/bin/python bench/audit_overhead.py
