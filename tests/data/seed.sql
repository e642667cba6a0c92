-- seed.sql - seed tables of the Pinterest pipeline (PostgreSQL version of the
-- original MySQL schema), filled with deterministic, realistic-looking rows.
--
--   psql -v ON_ERROR_STOP=1 [-v rows=N] -f tests/data/seed.sql
--
-- Each table gets :rows rows (default 1000).  Keys start at 1 and skip every
-- multiple of 7, so the largest key is rows + (rows-1)/6.  All values derive
-- from md5() of the key, so the output is identical on every run and server.

\if :{?rows}
\else
\set rows 1000
\endif

SET client_min_messages = warning;

-- h(key, salt): deterministic non-negative 60-bit hash
CREATE OR REPLACE FUNCTION pg_temp.h(k bigint, salt text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT ('x' || substr(md5(salt || ':' || k::text), 1, 15))::bit(60)::bigint $$;

-- pick(array, key, salt): deterministic element of a text array
CREATE OR REPLACE FUNCTION pg_temp.pick(a text[], k bigint, salt text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT a[1 + (pg_temp.h(k, salt) % cardinality(a))::int] $$;

DROP TABLE IF EXISTS pinterest_data;
DROP TABLE IF EXISTS geolocation_data;
DROP TABLE IF EXISTS user_data;

CREATE TABLE pinterest_data (
    index             integer PRIMARY KEY,
    unique_id         uuid,
    title             text,
    description       text,
    poster_name       text,
    follower_count    text,
    tag_list          text,
    is_image_or_video text,
    image_src         text,
    downloaded        integer,
    save_location     text,
    category          text
);

CREATE TABLE geolocation_data (
    ind         integer PRIMARY KEY,
    "timestamp" timestamp,
    latitude    double precision,
    longitude   double precision,
    country     text
);

CREATE TABLE user_data (
    ind         integer PRIMARY KEY,
    first_name  text,
    last_name   text,
    age         integer,
    date_joined timestamp
);

-- keys: n = 1..rows  ->  n + (n-1)/6  = 1..6, 8..13, 15..20, ...
INSERT INTO pinterest_data
SELECT k,
       (substr(m, 1, 8) || '-' || substr(m, 9, 4) || '-4' || substr(m, 14, 3) || '-'
        || substr('89ab', 1 + (pg_temp.h(k, 'var') % 4)::int, 1) || substr(m, 18, 3) || '-'
        || substr(m, 21, 12))::uuid,
       initcap(pg_temp.pick(ARRAY['cozy', 'easy', 'minimalist', 'vintage', 'budget', 'stunning',
                                  'simple', 'modern', 'rustic', 'colorful', 'elegant', 'creative'], k, 'adj'))
         || ' ' || initcap(replace(cat, '-', ' ')) || ' '
         || pg_temp.pick(ARRAY['Ideas', 'Inspiration', 'for Beginners', 'You Will Love',
                               'Tips & Tricks', 'on a Budget', 'Guide', '| 2019 Edition'], k, 'suffix'),
       CASE WHEN pg_temp.h(k, 'nodesc') % 40 = 0 THEN 'No description available Story format'
            ELSE pg_temp.pick(ARRAY['Discover', 'Find', 'Check out', 'Browse', 'See'], k, 'd1')
                 || ' ' || (2 + pg_temp.h(k, 'd2') % 98)::text || ' '
                 || pg_temp.pick(ARRAY['beautiful', 'quick', 'affordable', 'unique', 'popular'], k, 'd3')
                 || ' ' || replace(cat, '-', ' ') || ' ideas. '
                 || pg_temp.pick(ARRAY['Save this pin for later!', 'Click through for the full tutorial.',
                                       'Perfect for the whole family.', 'Step-by-step photos included.',
                                       'Follow us for more.'], k, 'd4')
       END,
       pg_temp.pick(ARRAY['Crafty Morning', 'The Budget Decorator', 'Ink Stories', 'Quote Garden',
                          'Style Notes Daily', 'Party Planning Pro', 'Art Lovers Hub',
                          'Home Sweet Home Co.', 'Teach Starter', 'Classic Car Club',
                          'Wander & Roam', 'Money Savvy Mom', 'Beauty Bites', 'Holiday Cheer'], k, 'poster'),
       CASE WHEN f % 50 = 0 THEN 'User Info Error'
            WHEN f % 10 < 4 THEN (f % 1000)::text
            WHEN f % 10 < 8 THEN (1 + f % 999)::text || 'k'
            ELSE (1 + f % 9)::text || 'M'
       END,
       (SELECT string_agg(pg_temp.pick(ARRAY['Diy', 'Crafts', 'Home Decor', 'Christmas', 'Tattoo Ideas',
                                             'Quotes', 'Mens Fashion', 'Wedding', 'Party', 'Art',
                                             'Painting', 'Beauty', 'Makeup', 'Travel', 'Finance',
                                             'Cars', 'Kids', 'Classroom', 'Budget', 'Gift Ideas'],
                                       k, 'tag' || j), ',' ORDER BY j)
          FROM generate_series(1, 3 + (pg_temp.h(k, 'ntags') % 5)::int) AS j),
       CASE WHEN pg_temp.h(k, 'video') % 8 = 0 THEN 'video' ELSE 'image' END,
       'https://i.pinimg.com/originals/' || substr(m, 1, 2) || '/' || substr(m, 3, 2) || '/'
         || substr(m, 5, 2) || '/' || m
         || CASE WHEN pg_temp.h(k, 'ext') % 4 = 0 THEN '.png' ELSE '.jpg' END,
       CASE WHEN pg_temp.h(k, 'dl') % 10 = 0 THEN 0 ELSE 1 END,
       'Local save in /data/' || cat,
       cat
FROM (SELECT n + (n - 1) / 6 AS k FROM generate_series(1, :rows) AS n) AS keys,
     LATERAL (SELECT md5('pin:' || k) AS m,
                     pg_temp.h(k, 'followers') AS f,
                     pg_temp.pick(ARRAY['christmas', 'tattoos', 'quotes', 'mens-fashion',
                                        'event-planning', 'art', 'diy-and-crafts', 'beauty',
                                        'home-decor', 'education', 'vehicles', 'travel', 'finance'],
                                  k, 'category') AS cat) AS x;

INSERT INTO geolocation_data
SELECT k,
       timestamp '2015-01-01 00:00:00' + (pg_temp.h(k, 'ts') % (7 * 365 * 86400)) * interval '1 second',
       -- mostly 4-6 decimals like the original data; every 10th row a full-precision double
       CASE WHEN k % 10 = 3 THEN (pg_temp.h(k, 'lat')::float8 / 1152921504606846976.0) * 180 - 90
            ELSE round((pg_temp.h(k, 'lat') % 1800000000)::numeric / 10000000 - 90,
                       4 + (k % 3)::int)::float8 END,
       CASE WHEN k % 10 = 3 THEN (pg_temp.h(k, 'lon')::float8 / 1152921504606846976.0) * 360 - 180
            ELSE round((pg_temp.h(k, 'lon') % 3600000000)::numeric / 10000000 - 180,
                       4 + (k % 3)::int)::float8 END,
       pg_temp.pick(ARRAY['Afghanistan', 'Albania', 'Algeria', 'Antarctica (the territory South of 60 deg S)',
                          'Argentina', 'Australia', 'Bangladesh', 'Brazil', 'Canada', 'Chile',
                          'Côte d''Ivoire', 'Curaçao', 'Egypt', 'France', 'Germany', 'India',
                          'Japan', 'Korea', 'Maldives', 'Mexico', 'Nigeria', 'Norway',
                          'Réunion', 'Saint Barthélemy', 'São Tomé and Príncipe',
                          'United Kingdom', 'United States of America', 'Viet Nam', 'Åland Islands',
                          'Heard Island and McDonald Islands'], k, 'country')
FROM (SELECT n + (n - 1) / 6 AS k FROM generate_series(1, :rows) AS n) AS keys;

INSERT INTO user_data
SELECT k,
       pg_temp.pick(ARRAY['Andrew', 'Christopher', 'Jessica', 'Emily', 'Michael', 'Sarah', 'David',
                          'Laura', 'Daniel', 'Olivia', 'José', 'Zoë', 'Siobhán', 'Mohammed',
                          'Aiko', 'Björn', 'Chloé', 'Mary-Jane'], k, 'first'),
       pg_temp.pick(ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller',
                          'Davis', 'Martinez', 'Wilson', 'O''Brien', 'Müller', 'Nguyen', 'Kowalski',
                          'van der Berg', 'Ångström', 'Smith-Jones', 'McDonald'], k, 'last'),
       20 + (pg_temp.h(k, 'age') % 41)::int,
       timestamp '2015-10-01 00:00:00' + (pg_temp.h(k, 'joined') % (2 * 365 * 86400)) * interval '1 second'
FROM (SELECT n + (n - 1) / 6 AS k FROM generate_series(1, :rows) AS n) AS keys;

ANALYZE pinterest_data;
ANALYZE geolocation_data;
ANALYZE user_data;
