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
-- One alert per source and window: `time` is the first try of its 50th port (port_scan) or 10th
-- host (distributed_scan), when the rule fires; `entity.src` the source, `entity.dst` the host it
-- tried most. `score` is the window's distinct ports (port_scan) or hosts (distributed_scan) over
-- the threshold's value.
WITH failed AS (
    SELECT t, srcaddr, dstaddr, dstport, CAST(floor(t / 300) * 300 AS BIGINT) AS window_start
    FROM flows
    WHERE action = 'REJECT'
       OR (protocol = '6' AND tcp_flags IN (2, 6) AND packets <= 2)
),
-- When each port, and each host, was first tried in the window, in order.
ports AS (
    SELECT srcaddr, window_start, first_try,
           row_number() OVER (PARTITION BY srcaddr, window_start ORDER BY first_try, dstport) AS nth
    FROM (SELECT srcaddr, window_start, dstport, min(t) AS first_try FROM failed GROUP BY ALL)
),
hosts AS (
    SELECT srcaddr, window_start, first_try,
           row_number() OVER (PARTITION BY srcaddr, window_start ORDER BY first_try, dstaddr) AS nth
    FROM (SELECT srcaddr, window_start, dstaddr, min(t) AS first_try FROM failed GROUP BY ALL)
),
per_source AS (
    SELECT srcaddr, window_start,
           count(DISTINCT dstport) AS port_count,
           count(DISTINCT dstaddr) AS host_count,
           mode(dstaddr) AS top_host
    FROM failed
    GROUP BY srcaddr, window_start
),
fired AS (
    SELECT per_source.*,
           (SELECT first_try FROM ports p WHERE p.srcaddr = per_source.srcaddr
                AND p.window_start = per_source.window_start AND p.nth = 50) AS port_fired,
           (SELECT first_try FROM hosts h WHERE h.srcaddr = per_source.srcaddr
                AND h.window_start = per_source.window_start AND h.nth = 10) AS host_fired
    FROM per_source
    WHERE port_count >= 50 OR (host_count >= 10 AND port_count <= 5)
)
SELECT CASE WHEN port_count >= 50 THEN port_fired ELSE host_fired END AS time,
       srcaddr AS src,
       top_host AS dst,
       CASE WHEN port_count >= 50 THEN 'port_scan' ELSE 'distributed_scan' END AS kind,
       'T1046' AS technique,
       CASE WHEN port_count >= 50 THEN port_count / 50.0 ELSE host_count / 10.0 END AS score
FROM fired
