/* SPDX-License-Identifier: MIT
 * test_conninfo.c - checking a conninfo with libpq and masking passwords
 * in URLs and in the messages that quote a conninfo or a URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conninfo.h"
#include "util.h"

static void expect_problem(const char *conninfo, const char *want)
{
    char *got = pe_conninfo_problem(conninfo);

    if (want == NULL) {
        if (got != NULL)
            fail_msg("\"%s\" refused: %s", conninfo, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* Issue #12, item 2: libpq's parse errors quote the password (or the
 * whole URI); the reason comes back on one line with it masked. */
static void problem_masks_what_libpq_quotes(void **state)
{
    (void)state;
    expect_problem("postgresql://pinemit:Tr0ub%dor&3@db.internal:5432/"
                   "pinterest",
                   "invalid percent-encoded token: \"********\"");
    expect_problem("postgresql://u:pw@[::1",
                   "end of string reached when looking for matching \"]\" "
                   "in IPv6 host address in URI: "
                   "\"postgresql://u:********@[::1\"");
    /* A password with a space needs quotes; the word after it is refused
     * by libpq and was meant as part of it. */
    expect_problem("host=x password=my secret",
                   "missing \"=\" after \"********\" in connection info "
                   "string");
    /* Other reasons keep what they quote. */
    expect_problem("host=x bogus=1",
                   "invalid connection option \"bogus\"");
}

static void problem_none_for_valid(void **state)
{
    (void)state;
    expect_problem("dbname=x", NULL);
    expect_problem("host=x password='my secret'", NULL);
    expect_problem("postgresql://pinemit:Tr0ub%25dor&3@db:5432/p", NULL);
    expect_problem("postgresql:///db?host=/tmp", NULL);
}

static void expect_url_mask(const char *in, const char *want)
{
    char *got = pe_url_mask(in);

    assert_string_equal(got, want);
    free(got);
}

/* Issue #12, item 5: a password in invoke_url. */
static void url_mask(void **state)
{
    (void)state;
    expect_url_mask("https://bob:pw@host/prod",
                    "https://bob:********@host/prod");
    expect_url_mask("http://bob:p@ss@127.0.0.1:9/test",
                    "http://bob:********@127.0.0.1:9/test");
    expect_url_mask("https://bob@host/prod", "https://bob@host/prod");
    /* An unencoded '/' in a password: libcurl would read a path, so the
     * user info runs to the last '@' of the text.  A path holding ':' and
     * '@' is masked too: the mask errs on the long side. */
    expect_url_mask("http://bob:Tr0ub/dor3x@127.0.0.1:1/x",
                    "http://bob:********@127.0.0.1:1/x");
    expect_url_mask("https://host/a:b@c", "https://host/a:********@c");
    expect_url_mask("https://host:8443", "https://host:8443");
    expect_url_mask("not a url", "not a url");
}

static void expect_message(const char *conninfo, const char *msg,
                           const char *want)
{
    char *got = pe_conninfo_mask_message(conninfo, msg);

    assert_string_equal(got, want);
    free(got);
}

static void message_masks_quoted_pieces(void **state)
{
    (void)state;
    /* The whole conninfo, quoted or not. */
    expect_message("postgresql://u:secret@h/db",
                   "bad URI: \"postgresql://u:secret@h/db\"",
                   "bad URI: \"postgresql://u:********@h/db\"");
    expect_message("postgresql://u:secret@h/db",
                   "postgresql://u:secret@h/db: bad",
                   "postgresql://u:********@h/db: bad");
    /* A piece of it that overlaps the password. */
    expect_message("postgresql://u:secret@h/db", "near \"ret@h\"",
                   "near \"********@h\"");
    /* A piece that does not: kept. */
    expect_message("postgresql://u:secret@h/db", "host \"h\" unknown",
                   "host \"h\" unknown");
    /* A quoted value libpq decoded: masked whole. */
    expect_message("postgresql://u:se%63ret@h/db", "token \"xsecretx\"",
                   "token \"********\"");
    /* An unclosed quote runs to the end. */
    expect_message("password=pw", "oops: \"pw", "oops: \"********");
    /* The password itself, when long enough, anywhere. */
    expect_message("host=x password=hunter22", "said hunter22 twice hunter22",
                   "said ******** twice ********");
    /* A short one only where quoted: "pw" is in many words. */
    expect_message("host=x password=pw", "pwd: \"pw\"", "pwd: \"********\"");
    /* No password: nothing changes. */
    expect_message("host=x dbname=y", "could not translate host name \"x\"",
                   "could not translate host name \"x\"");
}

/* A password that starts with '*' must not be completed by a mask next
 * to it. */
static void message_mask_cannot_complete_password(void **state)
{
    char *got;

    (void)state;
    got = pe_conninfo_mask_message("password=***a", "x ***aa y");
    assert_string_equal(got, "x ************* y"); /* not "x ********a y" */
    free(got);
    /* Only mask characters: nothing to hide, and no endless loop. */
    got = pe_conninfo_mask_message("password=****", "a ******** b");
    assert_string_equal(got, "a ******** b");
    free(got);
}

static void url_message(void **state)
{
    char *got;

    (void)state;
    got = pe_url_mask_message("http://bob:pw@127.0.0.1:9/test",
                              "GET http://bob:pw@127.0.0.1:9/test/topics: no");
    assert_string_equal(got,
                        "GET http://bob:********@127.0.0.1:9/test/topics: no");
    free(got);
}

static void mask_error_in_place(void **state)
{
    struct pe_error err;
    char big[600];

    (void)state;
    pe_error_set(&err, PE_ERR_DB, true, "cannot connect: token \"s3cr3t\"");
    pe_conninfo_mask_error("postgresql://u:s3cr3t@h/db", &err);
    assert_string_equal(err.msg, "cannot connect: token \"********\"");
    assert_int_equal(err.status, PE_ERR_DB);
    assert_true(err.retriable);
    pe_conninfo_mask_error("password=x", NULL); /* NULL is fine */
    /* Masks that make the message longer are cut at the buffer's end. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pe_error_set(&err, PE_ERR_DB, false, "\"pw\"%s", big);
    pe_conninfo_mask_error("password=pw", &err);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, "\"********\"aaa", 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(problem_masks_what_libpq_quotes),
        cmocka_unit_test(problem_none_for_valid),
        cmocka_unit_test(url_mask),
        cmocka_unit_test(message_masks_quoted_pieces),
        cmocka_unit_test(message_mask_cannot_complete_password),
        cmocka_unit_test(url_message),
        cmocka_unit_test(mask_error_in_place),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
