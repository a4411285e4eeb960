.PHONY: demo test setup bench

demo:
	sh scripts/demo.sh

test:
	sh scripts/test.sh

setup:
	sh scripts/setup.sh --test

bench:
	.venv/bin/python bench/run_all.py
