-- types.sql - one column per PostgreSQL type pinemit must encode, with edge values.
--   psql -v ON_ERROR_STOP=1 -f tests/data/types.sql
-- Tables: type_zoo (id bigint PK), big_keys (k bigint PK), text_keys (k text PK).
-- Re-runnable: everything is dropped first.  Literals for timestamptz carry
-- explicit zones, so the stored instants do not depend on the session TimeZone.

SET client_min_messages = warning;

DROP TABLE IF EXISTS type_zoo;
DROP TABLE IF EXISTS big_keys;
DROP TABLE IF EXISTS text_keys;
DROP TYPE IF EXISTS mood;
DROP DOMAIN IF EXISTS posint;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'très "content"');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);

CREATE TABLE type_zoo (
    id           bigint PRIMARY KEY,
    c_smallint   smallint,
    c_integer    integer,
    c_bigint     bigint,
    c_numeric    numeric,
    c_numeric102 numeric(10,2),
    c_real       real,
    c_double     double precision,
    c_boolean    boolean,
    c_text       text,
    c_varchar    varchar(20),
    c_char       char(5),
    c_date       date,
    c_time       time,
    c_timetz     timetz,
    c_timestamp  timestamp,
    c_timestamptz timestamptz,
    c_interval   interval,
    c_uuid       uuid,
    c_mood       mood,
    c_json       json,
    c_jsonb      jsonb,
    c_bytea      bytea,
    c_int_arr    integer[],
    c_text_arr   text[],
    c_int_arr2   integer[][],
    c_num_arr    numeric[],
    c_bool_arr   boolean[],
    c_ts_arr     timestamp[],
    c_jsonb_arr  jsonb[],
    c_empty_arr  integer[],
    c_lb_arr     integer[],
    c_inet       inet,
    c_money      money,
    c_posint     posint
);

INSERT INTO type_zoo VALUES
-- 1: ordinary values
(1, 1, 42, 1234567890123, 1.10, 12345678.90, 1.1, 0.1, true,
 'plain text', 'varchar', 'ab', '2024-02-29', '13:45:07', '13:45:07+02',
 '2024-02-29 13:45:07.5', '2024-02-29 13:45:07.123456+00',
 '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy',
 '{"a": 1, "b": [1, 2.50, "x"]}', '{"b": 2, "a": 1, "aa": [1.10, null]}', '\x00ff',
 '{1,2,3}', '{a,b,c}', '{{1,2},{3,4}}', '{1.10,2}', '{t,f}',
 '{"2024-01-01 00:00:00","2024-01-01 12:30:00.25"}', ARRAY['{"k": 1}', '[1, "two"]']::jsonb[],
 '{}', '[0:1]={1,2}', '192.168.0.1/24', 1234.56, 7),
-- 2: minimum / negative / BC / -infinity edges
(2, -32768, -2147483648, -9223372036854775808, 0.000000000000000000001, -99999999.99, 'NaN', 5e-324, false,
 '', '', 'x', '0044-03-15 BC', '00:00:00', '00:00:00-12:00',
 '0044-03-15 12:00:00.000001 BC', '-infinity', '-178000000 years',
 '00000000-0000-0000-0000-000000000000', 'sad',
 '  { "spaced" :  [ 1 ,  2 ] ,"nested": {"deep": {"deeper": [ {} , [] ]}} }  ', '[]', '\x',
 '{NULL,-2147483648}',
 ARRAY[NULL, 'has "quotes"', 'has,comma', 'has{brace}', 'back\slash', 'NULL', '', ' sp ', 'ünï'],
 '{{-1,NULL},{NULL,-2}}', '{NaN,-1.5,0}', '{NULL,f}', '{"0044-03-15 00:00:00 BC",infinity}',
 ARRAY['null', '"str"']::jsonb[],
 '{}', '[-2:-1]={-5,-6}', '::1', -92233720368547758.08, 1),
-- 3: maximum / infinity edges
(3, 32767, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789, 99999999.99, 'Infinity', 1e100, true,
 E'line1\nline2\t"q" \\ ', 'exactly twenty chars', 'abcde', '9999-12-31', '23:59:59.999999', '24:00:00+14:59',
 '294276-12-31 23:59:59.999999', 'infinity', '178000000 years 11 mons 2147483647 days 2562047788:00:54.775807',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'très "content"',
 '"just a string"', '{"num": 1e400, "neg": -0, "big": 123456789012345678901234567890}', '\xdeadbeef00',
 '{2147483647}', '{"{}","\\","\""}', '{{1},{2},{3}}', '{Infinity,-Infinity,1e-20}', '{}', '{infinity,-infinity}',
 '{}', '{}', '[1:3]={7,8,9}', '2001:db8::ff00:42:8329', 92233720368547758.07, 2147483647),
-- 4: special floats, more zones, infinity dates
(4, 0, 0, 9007199254740993, 'Infinity', 0, 3.4e38, '-0', NULL,
 'emoji 🎉 and 𝄞', 'é', '', 'infinity', '12:00:00.5', '12:00:00.5-03:30',
 'infinity', '2024-07-01 12:00:00 America/New_York', '-1 days -00:00:01', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', 'ok',
 'null', '"x"', E'\\x0a0d09', '{1}', '{"a b"}', '{}', '{1.10}', '{NULL}', '{NULL}',
 ARRAY[NULL]::jsonb[], '{}', '[5:5]={1}', '10.0.0.0/8', 0, NULL),
(5, 1, 1, -9007199254740993, '-Infinity', 0.1, '-Infinity', 'NaN', true,
 'x', 'x', 'x', '-infinity', '00:00:01', '00:00:01+05:30',
 '-infinity', '2000-01-01 00:00:00+05:30', '0', NULL, NULL,
 '1.10', '1.10', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, -0.01, NULL),
(6, NULL, NULL, NULL, 'NaN', NULL, 1e-45, 'Infinity', NULL,
 NULL, NULL, NULL, '1970-01-01', NULL, NULL,
 '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999-08', NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(7, 7, 7, 7, -0.0, -0.5, '-0', '-Infinity', false,
 '</script><script>alert(1)</script>', '\u0000 no nul', 'é', '2000-02-29', '12:34:56.789', '12:34:56.789+00',
 '2000-02-29 12:34:56', '2000-02-29 12:34:56.5 Asia/Kathmandu', '-1 year -2 mons +3 days -04:05:06', NULL, 'sad',
 '{"dup": 1, "dup": 2}', '{"dup": 1, "dup": 2}', '\x5c22', '{-0}', '{"NULL",null}', '{{1,2,3},{4,5,6}}', '{0.000}', '{f,t,NULL}',
 '{"1999-12-31 23:59:59.999999"}', ARRAY['{"z": 1, "a": {"y": 2, "b": 3}}']::jsonb[], '{}', '[0:0]={0}', '0.0.0.0/0', 1000000, 42),
-- 99: every nullable column NULL
(99, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE big_keys (k bigint PRIMARY KEY, v text);
INSERT INTO big_keys VALUES
    (-9223372036854775808, 'int8 min'),
    (-9007199254740993, '-(2^53+1)'),
    (-1, 'minus one'),
    (0, 'zero'),
    (1, 'one'),
    (2147483647, 'int4 max'),
    (2147483648, 'int4 max + 1'),
    (9007199254740992, '2^53'),
    (9007199254740993, '2^53+1, not representable as a double'),
    (9223372036854775806, 'int8 max - 1'),
    (9223372036854775807, 'int8 max');

CREATE TABLE text_keys (k text PRIMARY KEY, v int);
INSERT INTO text_keys VALUES
    ('a', 1), ('B', 2), ('a b', 3), ('é', 4), ('"quoted"', 5), ('', 6),
    ('A', 7), ('b', 8), ('back\slash', 9), (E'tab\there', 10), ('🎉', 11),
    ('10', 12), ('9', 13), ('null', 14), (' leading space', 15), (E'new\nline', 16);
