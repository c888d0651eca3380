//! The EMD and TVD figures of `netchaos fidelity` against scipy and numpy on the same records:
//! `scipy.stats.wasserstein_distance` for the EMD rows (log1p and raw), NetShare's own
//! `compute_IP_rank_distance` construction (rank lists, then `wasserstein_distance`) for the
//! address ranks, and the TVD as NetShare writes it (half the L1 distance of the shares).

use std::process::Command;

use super::inputs::{generate, perturbed, read_records, write_records};
use super::{fidelity, row};

/// Reads two JSON-lines files and prints the reference figures as one JSON object. Traffic
/// records (an address pair) are those measured, as in `docs/fidelity.md`.
const SCRIPT: &str = r#"
import json, sys
from collections import Counter
import numpy as np
from scipy.stats import wasserstein_distance

def flows(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    return [r for r in records if r["event_type"] == "vpc_flow" and r["srcaddr"] is not None and r["dstaddr"] is not None]

def ranks(values):
    # NetShare dist_metrics.py compute_IP_rank_distance: each record at its address's rank.
    out = []
    for rank, (_, count) in enumerate(Counter(values).most_common(), start=1):
        out += [rank] * count
    return out

def tvd(a, b):
    ca, cb = Counter(a), Counter(b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))

ref, cand = flows(sys.argv[1]), flows(sys.argv[2])
out = {}
for key, field in [("srcaddr_rank_emd", "srcaddr"), ("dstaddr_rank_emd", "dstaddr")]:
    out[key + ".netshare"] = wasserstein_distance(ranks([r[field] for r in ref]), ranks([r[field] for r in cand]))
for key in ["packets", "bytes", "duration"]:
    get = (lambda r: max(r["end"] - r["start"], 0)) if key == "duration" else (lambda r, k=key: r[k])
    a = np.array([get(r) for r in ref if get(r) is not None], dtype=float)
    b = np.array([get(r) for r in cand if get(r) is not None], dtype=float)
    out[key + "_emd"] = wasserstein_distance(np.log1p(a), np.log1p(b))
    out[key + "_emd.netshare"] = wasserstein_distance(a, b)
out["protocol_tvd"] = tvd([r["protocol"] for r in ref], [r["protocol"] for r in cand])
out["dstport_tvd.netshare"] = tvd([r["dstport"] for r in ref], [r["dstport"] for r in cand])
out["srcport_tvd.netshare"] = tvd([r["srcport"] for r in ref], [r["srcport"] for r in cand])
print(json.dumps(out))
"#;

#[test]
fn emd_and_tvd_figures_match_scipy_on_the_same_records() {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with scipy (scripts/test sets it up)");
    let dir = tempfile::tempdir().unwrap();
    let sample = generate(dir.path(), "a", 1, 5000);
    let other = generate(dir.path(), "b", 2, 4000);
    let copy = dir.path().join("perturbed.jsonl");
    write_records(&copy, &perturbed(&read_records(&other), 11));
    for candidate in [&other, &copy] {
        let report = fidelity(&sample, candidate);
        let output = Command::new(&python).args(["-c", SCRIPT]).arg(&sample).arg(candidate).output().expect("run the test tools' Python");
        assert!(output.status.success(), "scipy: {}", String::from_utf8_lossy(&output.stderr));
        let expected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut checked = 0;
        for (name, value) in expected.as_object().unwrap() {
            let (key, field) = name.split_once('.').map_or((name.as_str(), "distance"), |(key, field)| (key, field));
            let ours = row(&report, key)[field].as_f64().unwrap_or_else(|| panic!("{key}.{field} missing"));
            let theirs = value.as_f64().unwrap();
            eprintln!("{key} {field}: ours {ours:.6}, scipy {theirs:.6}");
            assert!((ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0), "{key} {field}: ours {ours}, scipy {theirs}");
            assert!(theirs > 0.0, "{key} {field}: a zero figure checks nothing");
            checked += 1;
        }
        assert_eq!(checked, 11);
    }
}
