/* SPDX-License-Identifier: MIT */
/* The one Check runner. CK_RUN_SUITE=name and CK_RUN_CASE=name select;
 * only the selected suite is built, so only its skipped tests are listed
 * (tu_add_test_if(), which also leaves out the TCases CK_RUN_CASE does not
 * name). CK_RUN_SUITE set but empty selects none, as in Check. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int main(void)
{
	/* The tests' runners are root's, in /tmp/mvm-test.*: a runner root
	 * there (the tests of the roots themselves set their own). */
	setenv("MICROVM_RUNNER_ROOTS", "/tmp", 1);
	/* No pins of the host's (/etc/microvm/runners) in the tests' way. */
	setenv("MICROVM_RUNNER_PINS", TU_NO_PINS, 1);
	const char *only = getenv("CK_RUN_SUITE");
	SRunner *sr = srunner_create(NULL);
#define SUITE(name)                                            \
	if (!only || strcmp(only, #name) == 0)                 \
		srunner_add_suite(sr, name##_suite());
#include "suites.def"
#undef SUITE
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
