/* SPDX-License-Identifier: MIT */
/* The one Check runner. CK_RUN_SUITE=name and CK_RUN_CASE=name select. */
#include <check.h>
#include <stdlib.h>

#include "testutil.h"

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.def"
#undef SUITE
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
