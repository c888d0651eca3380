//! [`ScenarioError`]: one mistake in a scenario file, where it is and what to write instead; and
//! the collector the validator pushes every mistake into, so that one run reports them all.

use std::fmt;

use super::yaml::{Node, Position};

/// One mistake in a scenario file: `FILE:LINE:COLUMN: what is wrong; what to write instead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when the mistake has no place in the file (it cannot be read).
    pub line: u32,
    /// 1-based; 0 with `line`.
    pub column: u32,
    /// What is wrong.
    pub problem: String,
    /// What to write instead.
    pub fix: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}; {}", self.file, self.problem, self.fix)
        } else {
            write!(f, "{}:{}:{}: {}; {}", self.file, self.line, self.column, self.problem, self.fix)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Every error found so far in one file.
#[derive(Debug)]
pub(crate) struct Errors {
    file: String,
    found: Vec<ScenarioError>,
}

impl Errors {
    pub(crate) fn new(file: &str) -> Self {
        Errors { file: file.to_owned(), found: Vec::new() }
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    /// Records a mistake at `position`.
    pub(crate) fn at(&mut self, position: Position, problem: impl Into<String>, fix: impl Into<String>) {
        self.found.push(ScenarioError {
            file: self.file.clone(),
            line: position.line,
            column: position.column,
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// Records a mistake in `node`.
    pub(crate) fn node(&mut self, node: &Node, problem: impl Into<String>, fix: impl Into<String>) {
        self.at(node.position, problem, fix);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The errors in file order.
    pub(crate) fn into_sorted(mut self) -> Vec<ScenarioError> {
        self.found.sort_by_key(|error| (error.line, error.column));
        self.found
    }
}

/// `did you mean `x`?` with the known name closest to `given`, or the list of them when none is
/// close; `what` names the kind of name (`key`, `kind`).
pub(crate) fn suggestion<'a>(given: &str, known: impl IntoIterator<Item = &'a str>, what: &str) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    let closest = known
        .iter()
        .map(|name| (strsim::normalized_damerau_levenshtein(&given.to_lowercase(), &name.to_lowercase()), name))
        .filter(|(similarity, _)| *similarity >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None => {
            let names: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
            if names.is_empty() { format!("there is no {what} to name here") } else { format!("use one of {}", names.join(", ")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_or_lists_them() {
        assert_eq!(suggestion("duraton", ["start", "duration", "seed"], "key"), "did you mean `duration`?");
        assert_eq!(suggestion("port_scna_prob", ["port_scan_prob", "data_exfil_prob"], "key"), "did you mean `port_scan_prob`?");
        assert_eq!(suggestion("zzz", ["start", "seed"], "key"), "use one of `start`, `seed`");
        assert_eq!(suggestion("zzz", [], "look-alike"), "there is no look-alike to name here");
    }

    #[test]
    fn displays_file_line_column_problem_and_fix() {
        let mut errors = Errors::new("a.yaml");
        errors.at(Position { line: 3, column: 5 }, "`eps` must be more than 0", "write e.g. `eps: 100`");
        assert_eq!(errors.into_sorted()[0].to_string(), "a.yaml:3:5: `eps` must be more than 0; write e.g. `eps: 100`");
    }
}
