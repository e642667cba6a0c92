/* SPDX-License-Identifier: MIT
 * test_metrics.c - the Prometheus textfile: the checkpoint gauge only for
 * integer keys, counters carried on, the lag gauges only when known; and
 * status --json's line. */
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
    struct pe_metrics_stream s = {.name = "pin", .topic = "t.pin",
                                  .checkpoint = cases[i].key, .rows = 1,
                                  .requests = 1, .bytes = 10};
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

/* Issue #16: the lag an operator alerts on, per stream, only when known
 * (an unknown figure is no line, never a 0 that would silence an alert). */
static void lag_gauges_when_known(void **state) {
  struct pe_metrics_stream s[2] = {
      {.name = "pin", .topic = "t.pin", .checkpoint = "7", .has_pending = true,
       .rows_pending = 1234, .has_age = true, .checkpoint_age_s = 61},
      {.name = "geo", .topic = "t.geo"},
  };
  char *text;

  (void)state;
  text = write_and_read(s, 2);
  assert_non_null(strstr(text, "# TYPE pinemit_rows_pending gauge\n"));
  assert_non_null(
      strstr(text, "# TYPE pinemit_checkpoint_age_seconds gauge\n"));
  assert_non_null(strstr(text, "\npinemit_rows_pending{stream=\"pin\"} 1234\n"));
  assert_non_null(
      strstr(text, "\npinemit_checkpoint_age_seconds{stream=\"pin\"} 61\n"));
  assert_null(strstr(text, "pinemit_rows_pending{stream=\"geo\"}"));
  assert_null(strstr(text, "pinemit_checkpoint_age_seconds{stream=\"geo\"}"));
  free(text);
}

/* status --json: every member, null when unknown, shard and owner only
 * where they apply. */
static void unit_json_line(void **state) {
  struct pe_unit_view u = {.stream = "pin",
                           .shard = -1,
                           .topic = "t.pin",
                           .checkpoint = "42",
                           .rows_pending = 9,
                           .tracked = true,
                           .open_transactions = 2,
                           .oldest_open_age_s = 5,
                           .updated_s = 1700000000,
                           .now_s = 1700000030};
  struct pe_buf b;

  (void)state;
  pe_buf_init(&b, 0);
  pe_metrics_unit_json(&u, &b);
  assert_string_equal(
      b.data, "{\"stream\":\"pin\",\"topic\":\"t.pin\",\"checkpoint\":\"42\","
              "\"rows_pending\":9,\"open_transactions\":2,"
              "\"oldest_open_age_s\":5,\"last_success\":"
              "\"2023-11-14T22:13:20Z\",\"checkpoint_age_s\":30}\n");
  pe_buf_cleanup(&b);
  u = (struct pe_unit_view){.stream = "ev",
                            .shard = 1,
                            .topic = "t.ev",
                            .rows_pending = -1,
                            .oldest_open_age_s = -1,
                            .owner = "-"};
  pe_buf_init(&b, 0);
  pe_metrics_unit_json(&u, &b);
  assert_string_equal(b.data,
                      "{\"stream\":\"ev\",\"shard\":1,\"topic\":\"t.ev\","
                      "\"checkpoint\":null,\"rows_pending\":null,"
                      "\"owner\":null,\"last_success\":null,"
                      "\"checkpoint_age_s\":null}\n");
  pe_buf_cleanup(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(checkpoint_gauge_only_for_integers),
      cmocka_unit_test(lag_gauges_when_known),
      cmocka_unit_test(unit_json_line),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
