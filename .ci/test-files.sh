#!/bin/sh
# Lists the test files for `npm test`: Node 20's test runner has no glob support of its own.
find gateway adapters firmware-sim hw-test bench -name '*.test.ts' -not -path '*/node_modules/*' | sort
