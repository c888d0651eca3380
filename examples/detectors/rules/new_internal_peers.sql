-- new_internal_peers: one internal host reaching many internal peers it never talked to before,
-- on remote-administration ports (lateral_movement; T1021).
--
-- A contact is a flow record (ACCEPT or REJECT) from an internal source to an internal
-- destination on 22 (SSH), 135 (RPC), 445 (SMB), 3389 (RDP) or 5985 / 5986 (WinRM), from the
-- client's side (source port above destination port). A peer is new at its first contact in the
-- records read: on a long store, the pairs of the days before are the baseline. Counted per
-- source in tumbling 30-minute windows; alerts at >= 5 new peers (Elastic's RDP hunt flags 10
-- destinations; a sweep of 10-50 peers within two hours passes 5 in one half hour).
-- One alert per source and window: `time` is the 5th new peer's first contact (when the rule
-- fires), `entity.src` the host, `entity.dst` its first new peer. `score` is the window's new
-- peers over 5.
WITH contacts AS (
    SELECT srcaddr, dstaddr, min(t) AS first_contact
    FROM flows
    WHERE is_internal(srcaddr) AND is_internal(dstaddr)
      AND dstport IN (22, 135, 445, 3389, 5985, 5986) AND srcport > dstport
    GROUP BY srcaddr, dstaddr
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY srcaddr, window_start ORDER BY first_contact, dstaddr) AS nth
    FROM (SELECT *, CAST(floor(first_contact / 1800) * 1800 AS BIGINT) AS window_start FROM contacts)
),
per_source AS (
    SELECT srcaddr, window_start,
           count(*) AS new_peers,
           max(first_contact) FILTER (WHERE nth = 5) AS fired,
           arg_min(dstaddr, first_contact) AS first_peer
    FROM numbered
    GROUP BY srcaddr, window_start
)
SELECT fired AS time,
       srcaddr AS src,
       first_peer AS dst,
       'lateral_movement' AS kind,
       'T1021' AS technique,
       new_peers / 5.0 AS score
FROM per_source
WHERE new_peers >= 5
