-- beacon_regularity: connections from one internal host to one peer at regular intervals, of
-- regular size (beaconing; T1071.001).
--
-- A connection is a flow record of its opening (TCP `tcp_flags` with SYN, or any UDP flow) from
-- the client's side (source port above destination port), ACCEPTed; records of one host pair in
-- the same second count once. Over all the records read, per (source, destination) pair:
--   * at least 8 connections (Elastic's beaconing rule wants a series, RITA scores from a few);
--   * a mean interval of 10 s to 1 h (faster is a session's burst, slower is not a check-in);
--   * the intervals' coefficient of variation (stddev / mean) <= 0.2: a jitter of up to ~20%;
--   * the sizes' coefficient of variation <= 0.1: check-ins of one size (Elastic: 0.05; flow
--     records of a session carry its handshake and TLS records too, so looser here).
-- Internal peers are included: a C2 relay inside the estate beacons too. One alert per pair:
-- `time` is its 8th connection (when the rule can first fire), `entity.src` / `entity.dst` the
-- pair. `score` is 0.2 over the intervals' coefficient of variation.
WITH opened AS (
    SELECT srcaddr, dstaddr, t, max(bytes) AS bytes
    FROM flows
    WHERE action = 'ACCEPT' AND is_internal(srcaddr) AND srcport > dstport
      AND (protocol = '17' OR (protocol = '6' AND (tcp_flags & 2) = 2))
    GROUP BY srcaddr, dstaddr, t
),
gaps AS (
    SELECT *,
           t - lag(t) OVER (PARTITION BY srcaddr, dstaddr ORDER BY t) AS gap,
           row_number() OVER (PARTITION BY srcaddr, dstaddr ORDER BY t) AS nth
    FROM opened
),
per_pair AS (
    SELECT srcaddr, dstaddr,
           count(*) AS connections,
           avg(gap) AS mean_gap,
           stddev_samp(gap) / nullif(avg(gap), 0) AS gap_cv,
           stddev_samp(bytes) / nullif(avg(bytes), 0) AS bytes_cv,
           max(t) FILTER (WHERE nth = 8) AS eighth
    FROM gaps
    GROUP BY srcaddr, dstaddr
)
SELECT eighth AS time,
       srcaddr AS src,
       dstaddr AS dst,
       'beaconing' AS kind,
       'T1071.001' AS technique,
       0.2 / greatest(gap_cv, 0.01) AS score
FROM per_pair
WHERE connections >= 8
  AND mean_gap BETWEEN 10 AND 3600
  AND gap_cv <= 0.2
  AND bytes_cv <= 0.1
