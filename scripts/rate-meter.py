#!/usr/bin/env python3
"""Count JSON lines arriving on stdin per wall-clock window; print one JSON object per window.

Used by scripts/bench to measure how closely `netchaos generate --eps R` holds its rate.
"""
import json
import sys
import time

window = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
stream = sys.stdin.buffer
start = None
count = 0
windows = []
while True:
    block = stream.read1(1 << 20)
    if not block:
        break
    now = time.monotonic()
    if start is None:
        start = now
    count += block.count(b"\n")
    if now - start >= window:
        windows.append({"seconds": now - start, "records": count})
        start, count = now, 0
print(json.dumps(windows))
