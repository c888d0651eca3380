-- failed_logins: many short login sessions from one source to one host's SSH or RDP (brute_force; T1110.001).
--
-- A failed login, as flow logs show it: a flow to port 22 or 3389 from the client's side (source
-- port above destination port) that was REJECTed, or a whole short TCP session in one record
-- (SYN with FIN or RST, `tcp_flags` 3 / 19 / 6 / 22 ..., at most 60 packets): the service
-- answered and the client hung up, as a password guesser does after each refusal. Flow logs do
-- not show the login's outcome; a successful interactive session lasts longer than one record.
-- Counted per (source, destination) in tumbling 2-minute windows; alerts at >= 8 (Wazuh's SSH
-- brute-force rule: 8 failures in 120 s from one source).
-- One alert per pair and window: `time` is the window's 8th attempt (when the rule fires).
-- `score` is the window's attempts over 8.
WITH attempts AS (
    SELECT t, srcaddr, dstaddr, CAST(floor(t / 120) * 120 AS BIGINT) AS window_start
    FROM flows
    WHERE dstport IN (22, 3389) AND srcport > dstport
      AND (action = 'REJECT'
           OR (protocol = '6' AND (tcp_flags & 2) = 2 AND (tcp_flags & 5) > 0 AND packets <= 60))
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY srcaddr, dstaddr, window_start ORDER BY t) AS nth
    FROM attempts
),
per_pair AS (
    SELECT srcaddr, dstaddr, window_start, count(*) AS tries, max(t) FILTER (WHERE nth = 8) AS fired
    FROM numbered
    GROUP BY srcaddr, dstaddr, window_start
)
SELECT fired AS time,
       srcaddr AS src,
       dstaddr AS dst,
       'brute_force' AS kind,
       'T1110.001' AS technique,
       tries / 8.0 AS score
FROM per_pair
WHERE tries >= 8
