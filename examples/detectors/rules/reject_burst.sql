-- reject_burst: a burst of failed connection attempts from one source (port_scan, distributed_scan; T1046).
--
-- A failed attempt is a flow record the security group REJECTed, or a TCP opening that went
-- nowhere: `tcp_flags` 2 (SYN) or 6 (SYN and RST, the closed port answered) in at most 2 packets.
-- Counted per source address in tumbling 5-minute windows:
--   * port_scan         when the source tried >= 50 distinct destination ports in the window
--                       (a vertical scan, or a sweep of many ports). 50 in 5 minutes is at or under
--                       Elastic's port-scan rule (50 ports a minute) and well above Zeek's scan.zeek
--                       (15), which the internet's background scanners already exceed here;
--   * distributed_scan  when it tried >= 10 distinct hosts on at most 5 ports (a horizontal scan,
--                       one source of a campaign; Sigma's network-scan rule: 10 destinations).
-- One alert per source and window: `time` is the window's first failed attempt, `entity.src` the
-- source, `entity.dst` the host it tried most. `score` is the distinct ports (port_scan) or hosts
-- (distributed_scan) over the threshold's value.
WITH failed AS (
    SELECT t, srcaddr, dstaddr, dstport, CAST(floor(t / 300) * 300 AS BIGINT) AS window_start
    FROM flows
    WHERE action = 'REJECT'
       OR (protocol = '6' AND tcp_flags IN (2, 6) AND packets <= 2)
),
per_source AS (
    SELECT srcaddr, window_start,
           min(t) AS first_seen,
           count(DISTINCT dstport) AS ports,
           count(DISTINCT dstaddr) AS hosts,
           mode(dstaddr) AS top_host
    FROM failed
    GROUP BY srcaddr, window_start
)
SELECT first_seen AS time,
       srcaddr AS src,
       top_host AS dst,
       CASE WHEN ports >= 50 THEN 'port_scan' ELSE 'distributed_scan' END AS kind,
       'T1046' AS technique,
       CASE WHEN ports >= 50 THEN ports / 50.0 ELSE hosts / 10.0 END AS score
FROM per_source
WHERE ports >= 50 OR (hosts >= 10 AND ports <= 5)
