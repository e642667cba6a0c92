-- hostile.sql - adds awkward rows to the tables made by seed.sql.
--   psql -v ON_ERROR_STOP=1 -f tests/data/seed.sql
--   psql -v ON_ERROR_STOP=1 -f tests/data/hostile.sql
-- All keys are above 10,000,000 (the largest is 2147483647, the int4 maximum),
-- so they never collide with the generated rows.  Re-runnable: it first deletes
-- its own key range.  No string contains NUL (PostgreSQL text cannot).

SET client_min_messages = warning;

DELETE FROM pinterest_data   WHERE index > 10000000;
DELETE FROM geolocation_data WHERE ind   > 10000000;
DELETE FROM user_data        WHERE ind   > 10000000;

INSERT INTO pinterest_data
    (index, unique_id, title, description, poster_name, follower_count, tag_list,
     is_image_or_video, image_src, downloaded, save_location, category)
VALUES
-- double quotes and backslashes
(10000001, '00000000-0000-4000-8000-000000000001',
 E'He said "hi" \\ and left', E'C:\\path\\to\\file.jpg and \\n is not a newline, \\u0041 is not A',
 E'"quoted"', E'\\', E'"a","b",\\"c\\"', 'image',
 E'https://example.com/a?q="x"&r=\\y', 1, E'Local save in /data/"quoted"\\dir', E'\\"'),
-- control characters (everything except NUL that JSON must escape, plus DEL)
(10000002, '00000000-0000-4000-8000-000000000002',
 'ctl:' || chr(1) || chr(8) || chr(9) || chr(10) || chr(13) || chr(27) || chr(31) || chr(127) || ':end',
 'every C0: ' || (SELECT string_agg(chr(c), '' ORDER BY c) FROM generate_series(1, 31) AS c),
 chr(27) || '[31mred' || chr(27) || '[0m', chr(8), chr(9) || ',' || chr(10) || ',' || chr(13),
 chr(12), chr(11), 0, chr(127), chr(31)),
-- 4-byte UTF-8, emoji sequences, combining marks, right-to-left, odd code points
(10000003, '00000000-0000-4000-8000-000000000003',
 E'party \U0001F389 clef \U0001D11E family \U0001F468\u200D\U0001F469\u200D\U0001F467 flag \U0001F1EB\U0001F1F7',
 E'combining: e\u0301 a\u0308 n\u0303 Z\u0336\u0337\u0338 | rtl: \u0645\u0631\u062D\u0628\u0627 \u05E9\u05DC\u05D5\u05DD | marks: \u200E\u200F\u202E reversed\u202C | bom \uFEFF | ls \u2028 ps \u2029 | max \U0010FFFF | nonchar \uFFFE\uFFFF | repl \uFFFD',
 E'\u0645\u062D\u0645\u062F \u0627\u0644\u0641\u0646\u0627\u0646', E'\U0001F4AF', E'\U0001F389,\U0001D11E,e\u0301',
 'video', E'https://example.com/\U0001F389.jpg', 1, E'Local save in /data/\u00E9t\u00E9', E'\u65E5\u672C\u8A9E'),
-- HTML / script breakers and JSON look-alikes
(10000004, '00000000-0000-4000-8000-000000000004',
 '</script><script>alert("x")</script>', '<!-- --> ]]> &amp; &lt; <\/script> ''single''',
 'null', 'true', '{"a":1},[1,2]', '123', 'javascript:alert(1)', 1, '0', '-0'),
-- very long values: 200 KiB ASCII, and 200 KiB of characters that all need escaping
(10000005, '00000000-0000-4000-8000-000000000005',
 repeat('0123456789abcdef', 12800),
 repeat(E'"\\', 102400),
 repeat(E'\U0001F389', 51200), repeat('9', 1000), repeat('tag,', 5000),
 'image', 'https://example.com/' || repeat('a', 8000) || '.jpg', 1,
 'Local save in /data/' || repeat('d/', 1000), repeat(chr(1), 10000)),
-- empty strings everywhere
(10000006, '00000000-0000-4000-8000-000000000006', '', '', '', '', '', '', '', 0, '', ''),
-- NULL in every nullable column
(10000007, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
-- whitespace-only and trailing spaces
(10000008, 'ffffffff-ffff-4fff-bfff-ffffffffffff', '   ', E' \t\n ', E'\u00A0nbsp\u3000ideographic', ' 1k ', ' , , ',
 'image ', ' https://example.com ', 1, ' ', ' '),
-- int4 maximum key
(2147483647, '7fffffff-ffff-4fff-bfff-ffffffffffff', 'max key', 'index is 2147483647', 'max', '2147483647',
 'max', 'image', 'https://example.com/max.jpg', 2147483647, 'Local save in /data/max', 'max');

INSERT INTO geolocation_data (ind, "timestamp", latitude, longitude, country) VALUES
(10000001, '2019-06-01 12:34:56.123456', 1e-300, -1e-300, 'microseconds'),
(10000002, '0001-01-01 00:00:00', '-0', '0', 'year 1'),
(10000003, '9999-12-31 23:59:59.999999', 1.7976931348623157e308, -1.7976931348623157e308, 'year 9999'),
(10000004, '2000-01-01 00:00:00.000001', 5e-324, -5e-324, 'smallest subnormal'),
(10000005, '2000-01-01 00:00:00.1', 2.2250738585072014e-308, 0.1, 'smallest normal'),
(10000006, '2020-02-29 23:59:59.5', 90, -180, 'exact bounds'),
(10000007, NULL, NULL, NULL, NULL),
(10000008, '4713-01-01 00:00:00 BC', 'NaN', 'Infinity', 'BC and NaN'),
(10000009, 'infinity', '-Infinity', 1e16, 'infinity'),
(10000010, '-infinity', 123456789012345680000, 0.30000000000000004, '-infinity'),
(10000011, '1999-12-31 23:59:59.999999', 1e21, 1e-7, E'C\u00F4te d''Ivoire "\\" \U0001F30D'),
(2147483647, '2038-01-19 03:14:07', -90, 180, 'int max key');

INSERT INTO user_data (ind, first_name, last_name, age, date_joined) VALUES
(10000001, E'"Bobby"', E'Tables\'); DROP TABLE user_data; --', 0, '0001-01-01 00:00:00'),
(10000002, E'Zo\u00EB', E'O''Brien\\', -2147483648, '9999-12-31 23:59:59.999999'),
(10000003, E'\u0645\u062D\u0645\u062F', E'\U0001F389\U0001D11E', 2147483647, '2016-01-01 00:00:00.000001'),
(10000004, '', '', NULL, NULL),
(10000005, NULL, NULL, NULL, NULL),
(10000006, 'ctl' || chr(1) || chr(31) || chr(127), E'tab\there\nnew', 1, '1970-01-01 00:00:00'),
(10000007, repeat('x', 204800), 'long', 30, '2017-05-05 05:05:05.5'),
(2147483647, 'Max', 'Key', 99, '2038-01-19 03:14:07.999999');
