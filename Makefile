.PHONY: run test setup i18n bench fuzz faults
run:
	bin/run
test:
	bin/test
setup:
	bin/setup
i18n:
	bin/i18n update
bench:
	bin/setup && .venv/bin/python -m bench.run $(BENCH_ARGS)
fuzz:
	bin/setup && FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py
faults:
	bin/setup && .venv/bin/python -B -m bench.faults $(FAULTS_ARGS)
