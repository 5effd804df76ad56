/* test.h: cmocka plus asserts that print both values, for every test binary. */
#ifndef GS_TEST_H
#define GS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gs.h"

#define ASSERT_INT_EQ(a, b) assert_int_equal((long long)(a), (long long)(b))
#define ASSERT_STR_EQ(a, b) assert_string_equal((a), (b))

#endif
