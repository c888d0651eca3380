//! The Grafana dashboard's queries as plain PromQL, for tests that run them against a Prometheus
//! scraping the pipeline: every target's `expr` of every panel (the panels nested in rows
//! included), with the Grafana variables a query may use replaced by fixed values
//! (`$__rate_interval` -> `1m`, `$__interval` -> `15s`, `$__range` -> `5m`, as
//! `scripts/check-dashboard` does before `promtool check rules`). A Prometheus scraping every 15 s
//! or faster has two samples in a `1m` window.

use std::path::PathBuf;

use serde_json::Value;

/// The Grafana variables a dashboard query may use, and what they become. No other `$` may remain.
pub const GRAFANA_VARIABLES: [(&str, &str); 3] = [("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "5m")];

/// One target of one panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardQuery {
    /// The panel's title.
    pub panel: String,
    /// Plain PromQL, the Grafana variables substituted.
    pub expr: String,
    /// The query reads kafka-exporter's metrics (`kafka_*`), which only the compose stack scrapes.
    pub kafka_exporter: bool,
}

/// `deploy/grafana/dashboards/netchaos.json` in this checkout.
pub fn dashboard_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dashboards/netchaos.json")
}

/// The dashboard, parsed.
pub fn dashboard() -> Value {
    let path = dashboard_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Every query of the shipped dashboard, in panel order.
pub fn dashboard_queries() -> Vec<DashboardQuery> {
    queries_of(&dashboard())
}

/// Every query of `dashboard`, in panel order. Panics on a panel or target that has no title or
/// expr: the dashboard is the project's own, and such a panel would show nothing.
pub fn queries_of(dashboard: &Value) -> Vec<DashboardQuery> {
    let mut panels = Vec::new();
    collect_panels(dashboard, &mut panels);
    let mut queries = Vec::new();
    for panel in panels {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or_else(|| panic!("a panel without a title: {panel}"));
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("panel {title:?} has no targets"));
        for target in targets {
            let expr = target["expr"].as_str().filter(|expr| !expr.trim().is_empty());
            let expr = substitute(expr.unwrap_or_else(|| panic!("panel {title:?} has a target without an expr: {target}")));
            let kafka_exporter = metric_names(&expr).iter().any(|name| name.starts_with("kafka_"));
            queries.push(DashboardQuery { panel: title.to_owned(), expr, kafka_exporter });
        }
    }
    queries
}

/// The panels of a dashboard or row, and those nested in them (a collapsed row holds its panels).
fn collect_panels<'a>(parent: &'a Value, panels: &mut Vec<&'a Value>) {
    for panel in parent["panels"].as_array().into_iter().flatten() {
        panels.push(panel);
        collect_panels(panel, panels);
    }
}

/// Replaces the [`GRAFANA_VARIABLES`] in `expr`; a longer name that starts like one
/// (`$__interval_ms`) is left alone, to be caught as an unknown variable.
pub fn substitute(expr: &str) -> String {
    let mut plain = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(dollar) = rest.find('$') {
        plain.push_str(&rest[..dollar]);
        rest = &rest[dollar..];
        let known = GRAFANA_VARIABLES.iter().find(|(name, _)| {
            rest.starts_with(name) && !rest[name.len()..].starts_with(|next: char| next.is_ascii_alphanumeric() || next == '_')
        });
        match known {
            Some((name, value)) => {
                plain.push_str(value);
                rest = &rest[name.len()..];
            }
            None => {
                plain.push('$');
                rest = &rest[1..];
            }
        }
    }
    plain.push_str(rest);
    plain
}

/// PromQL words that are not metric names although they are not followed by `(`.
const KEYWORDS: [&str; 28] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesised list of label names, not an expression.
const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The metric names a PromQL expression selects, in order: identifiers outside strings, label
/// matchers (`{...}`), ranges (`[...]`) and label lists (`by (...)`), that are neither functions
/// nor keywords.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let current = chars[index];
        if current == '"' || current == '\'' || current == '`' {
            index = skip_string(&chars, index);
        } else if current == '{' {
            index = skip_until(&chars, index, '}');
        } else if current == '[' {
            index = skip_until(&chars, index, ']');
        } else if current.is_ascii_digit() || current == '.' {
            while index < chars.len() && (chars[index].is_ascii_alphanumeric() || chars[index] == '.') {
                index += 1;
            }
        } else if current.is_ascii_alphabetic() || current == '_' || current == ':' {
            let start = index;
            while index < chars.len() && (chars[index].is_ascii_alphanumeric() || chars[index] == '_' || chars[index] == ':') {
                index += 1;
            }
            let word: String = chars[start..index].iter().collect();
            let mut next = index;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = next < chars.len() && chars[next] == '(';
            if called && LABEL_LISTS.contains(&word.as_str()) {
                index = skip_until(&chars, next, ')');
            } else if !called && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.push(word);
            }
        } else {
            index += 1;
        }
    }
    names
}

/// The index after the string literal that starts at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut index = start + 1;
    while index < chars.len() && chars[index] != quote {
        index += if chars[index] == '\\' && quote != '`' { 2 } else { 1 };
    }
    index + 1
}

/// The index after the first `close` from `start` on, skipping string literals.
fn skip_until(chars: &[char], start: usize, close: char) -> usize {
    let mut index = start + 1;
    while index < chars.len() && chars[index] != close {
        if matches!(chars[index], '"' | '\'' | '`') {
            index = skip_string(chars, index);
        } else {
            index += 1;
        }
    }
    index + 1
}
