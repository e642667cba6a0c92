/* SPDX-License-Identifier: MIT
 * test_metrics.c - the Prometheus textfile: the checkpoint gauge only for
 * integer keys, counters carried on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

/* Writes a file for one run of the given streams; returns its text. */
static char *write_and_read(const struct pe_metrics_stream *s, size_t n) {
  char dir[] = "/tmp/test_metrics.XXXXXX";
  char path[64];
  struct pe_metrics_run r = {100.0, 102.5, 0, s, n};
  struct pe_error err;
  char *text = calloc(1, 65536);
  FILE *f;

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/m.prom", dir);
  assert_int_equal(pe_metrics_write(path, &r, &err), PE_OK);
  f = fopen(path, "r");
  assert_non_null(f);
  assert_true(fread(text, 1, 65535, f) > 0);
  fclose(f);
  unlink(path);
  rmdir(dir);
  return text;
}

/* Issue #12 item 18: `pinemit_checkpoint_key{...} 0x1A` for a text key
 * made Prometheus refuse the whole file. */
static void checkpoint_gauge_only_for_integers(void **state) {
  static const struct {
    const char *key;
    bool gauge;
  } cases[] = {
      {"116666", true}, {"-7", true},   {"+3", true},   {"0", true},
      {"0x1A", false},  {"1e5", false}, {"inf", false}, {"nan", false},
      {"12.5", false},  {" 12", false}, {"12 ", false}, {"", false},
      {"-", false},     {"abc", false}, {NULL, false},
  };
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct pe_metrics_stream s = {"pin", "t.pin", cases[i].key, 1, 1, 10, 0, 0};
    char *text = write_and_read(&s, 1);
    char want[64];

    snprintf(want, sizeof(want),
             "\npinemit_checkpoint_key{stream=\"pin\"} %s\n",
             cases[i].key ? cases[i].key : "");
    if ((strstr(text, want) != NULL) != cases[i].gauge)
      fail_msg("key [%s]: gauge %s expected",
               cases[i].key ? cases[i].key : "(null)",
               cases[i].gauge ? "" : "not");
    if (!cases[i].gauge)
      assert_null(strstr(text, "pinemit_checkpoint_key{"));
    assert_non_null(strstr(text, "\npinemit_bytes_total{stream=\"pin\"} 10\n"));
    free(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(checkpoint_gauge_only_for_integers),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
