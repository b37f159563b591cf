# Convenience wrapper around CMake/ctest (the build lives in build/).
BUILD ?= build
.PHONY: all test bench docs quickstart fuzz clean
all:
	scripts/setup.sh
test:
	scripts/test.sh
bench: all
	tests/bench/run.sh $(BUILD)
docs: all
	scripts/gen-docs.sh $(BUILD)
quickstart:
	scripts/demo.sh
fuzz:
	tests/fuzz/run.sh
clean:
	rm -rf $(BUILD)
