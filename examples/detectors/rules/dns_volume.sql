-- dns_volume: heavy DNS traffic from one internal host to an external resolver (data_exfiltration; T1048.003).
--
-- Sums the bytes of UDP flows to port 53 of an external (non-RFC 1918) address, per internal
-- source in tumbling 10-minute windows, and alerts at >= 100 KB. A host resolving names sends a
-- few hundred bytes in ten minutes (under 1 KB here, even in a deploy); DNS tunnelling moves its
-- payload in the queries. Sigma's "High DNS Bytes Out" alerts at 300 KB in one minute; this is
-- lower, so that a few MB over a quarter of an hour is caught, and still ~100x the busiest
-- normal client.
-- One alert per source and window: `time` is the flow that took the window's sum to 100 KB (when
-- the rule fires), `entity.src` the host, `entity.dst` the resolver it sent most to. `score` is
-- the window's bytes over 100 KB.
WITH dns AS (
    SELECT t, srcaddr, dstaddr, bytes, CAST(floor(t / 600) * 600 AS BIGINT) AS window_start
    FROM flows
    WHERE protocol = '17' AND dstport = 53
      AND is_internal(srcaddr) AND NOT is_internal(dstaddr)
),
running AS (
    SELECT *, sum(bytes) OVER (PARTITION BY srcaddr, window_start ORDER BY t, dstaddr
                               ROWS UNBOUNDED PRECEDING) AS bytes_so_far
    FROM dns
),
per_source AS (
    SELECT srcaddr, window_start, min(t) FILTER (WHERE bytes_so_far >= 100000) AS fired,
           sum(bytes) AS bytes_out,
           arg_max(dstaddr, bytes) AS top_resolver
    FROM running
    GROUP BY srcaddr, window_start
)
SELECT fired AS time,
       srcaddr AS src,
       top_resolver AS dst,
       'data_exfiltration' AS kind,
       'T1048.003' AS technique,
       bytes_out / 100000.0 AS score
FROM per_source
WHERE bytes_out >= 100000
