# Entry points; see README.md.
.PHONY: test check demo image smoke clean-vms deps

test:            ## everything CI runs: linters, unit tests, Molecule scenarios on VMs
	scripts/test-all

check:           ## linters and unit tests only (no VMs)
	SKIP_MOLECULE=1 scripts/test-all

demo:            ## the demo device: a local VM, site.yml, a forced OOM of a registered data logger
	scripts/demo

deps:            ## Debian packages and the Python tools in .venv
	scripts/install-deps

image:           ## build (or find in the cache) the test VM base image
	scripts/install-deps && .venv/bin/python testbed/build_image.py

smoke:           ## the smoke scenario only
	SCENARIOS=smoke scripts/test-all

clean-vms:       ## stop every test VM and remove its overlay
	python3 testbed/vm.py stop-all
