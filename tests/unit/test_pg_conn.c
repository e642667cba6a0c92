/* SPDX-License-Identifier: MIT
 * test_pg_conn.c - identifier quoting and error classification shared by
 * the source and the database checkpoint store (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_conn.h"
#include "util.h"

static void quoting_doubles_quotes(void **state)
{
    char *q = pe_pg_quote_ident("a\"b.c");
    char *t = pe_pg_quote_qualified("my\"s.Tab le");
    char *one = pe_pg_quote_qualified("solo");

    (void)state;
    assert_string_equal(q, "\"a\"\"b.c\"");
    assert_string_equal(t, "\"my\"\"s\".\"Tab le\"");
    assert_string_equal(one, "\"solo\"");
    free(q);
    free(t);
    free(one);
}

static void no_connection_is_retriable(void **state)
{
    struct pe_error err;

    (void)state;
    assert_true(pe_pg_retriable(NULL, NULL));
    pe_error_clear(&err);
    assert_int_equal(pe_pg_error(&err, NULL, NULL, "what"), PE_ERR_DB);
    assert_true(err.retriable);
    assert_non_null(strstr(err.msg, "what: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoting_doubles_quotes),
        cmocka_unit_test(no_connection_is_retriable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
