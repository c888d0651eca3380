//! A YAML tree that keeps where each node was written, so that every error can name its line and
//! column. Built from `yaml-rust2`'s event parser; serde's YAML readers stop at the first error and
//! drop positions, and a validator that reports every mistake at once needs both.
//!
//! The tree is deliberately small: scalars keep their text (and whether they were quoted, so that
//! `"null"` stays text), sequences and mappings keep their entries in file order, duplicate keys
//! included (the validator reports them). Anchors and aliases are resolved by copying the anchored
//! node; tags are ignored. One document per file.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Position {
    fn of(marker: &Marker) -> Self {
        let clamp = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        Position { line: clamp(marker.line()).max(1), column: clamp(marker.col()).saturating_add(1) }
    }
}

/// A node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) position: Position,
    pub(crate) value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar as written; `plain` when unquoted.
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Entries in file order, duplicate keys kept.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// An unquoted empty scalar, `~` or `null`: a key written with nothing after it.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the node is, for "must be X, not Y" messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { .. } => "a single value",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}

/// A YAML syntax error: where and what.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) position: Position,
    pub(crate) message: String,
}

enum Frame {
    Sequence { position: Position, anchor: usize, items: Vec<Node> },
    Mapping { position: Position, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// The file's one document as a tree (`None` for an empty file).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut copied = 0usize;
    loop {
        let (event, marker) = parser
            .next_token()
            .map_err(|error| SyntaxError { position: Position::of(error.marker()), message: error.info().to_owned() })?;
        let position = Position::of(&marker);
        let completed = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError { position, message: "a second YAML document (`---`): a scenario file holds one".into() });
                }
                None
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => None,
            Event::Alias(id) => match anchors.iter().rev().find(|(anchor, _)| *anchor == id) {
                Some((_, node)) => {
                    // An alias copies its anchor's tree: a file of aliases to aliases grows without
                    // bound (a "billion laughs"), so the copies are counted against a limit.
                    copied += node.size();
                    if copied > MAX_ALIAS_NODES {
                        return Err(SyntaxError {
                            position,
                            message: format!(
                                "aliases (`*name`) expand to more than {MAX_ALIAS_NODES} values: write the values out, or use fewer aliases"
                            ),
                        });
                    }
                    Some(Node { position, value: node.value.clone() })
                }
                None => return Err(SyntaxError { position, message: "an alias (`*name`) with no anchor (`&name`) before it".into() }),
            },
            Event::Scalar(text, style, anchor, _) => {
                let node = Node { position, value: Value::Scalar { text, plain: style == TScalarStyle::Plain } };
                remember(&mut anchors, anchor, &node);
                Some(node)
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Sequence { position, anchor, items: Vec::new() });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Mapping { position, anchor, entries: Vec::new(), key: None });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop() {
                    Some(Frame::Sequence { position, anchor, items }) => {
                        let node = Node { position, value: Value::Sequence(items) };
                        remember(&mut anchors, anchor, &node);
                        node
                    }
                    Some(Frame::Mapping { position, anchor, entries, .. }) => {
                        // A block mapping's start event is marked after its first key: the
                        // mapping starts at that key (a flow mapping at its `{`).
                        let position = entries.first().map_or(position, |(key, _)| key.position.min(position));
                        let node = Node { position, value: Value::Mapping(entries) };
                        remember(&mut anchors, anchor, &node);
                        node
                    }
                    None => return Err(SyntaxError { position, message: "the end of a list or mapping that never began".into() }),
                };
                Some(node)
            }
        };
        if let Some(node) = completed {
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Sequence { items, .. }) => items.push(node),
                Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                    None => *key = Some(node),
                    Some(name) => entries.push((name, node)),
                },
            }
        }
    }
    Ok(root)
}

fn remember(anchors: &mut Vec<(usize, Node)>, anchor: usize, node: &Node) {
    if anchor > 0 {
        anchors.push((anchor, node.clone()));
    }
}

/// Most values aliases may copy in one file.
const MAX_ALIAS_NODES: usize = 100_000;

impl Node {
    /// Values in this tree, itself included.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Sequence(items) => items.iter().map(Node::size).sum(),
            Value::Mapping(entries) => entries.iter().map(|(key, value)| key.size() + value.size()).sum(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Mapping(entries) => entries,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let root = parse("name: x\ntopology:\n  accounts: 2\nlist: [1, 'two']\nitems:\n  - a: 1\n    b: {c: 2}\n").unwrap().unwrap();
        assert_eq!(root.position, Position { line: 1, column: 1 });
        let entries = mapping(&root);
        assert_eq!(entries[0].0.position, Position { line: 1, column: 1 });
        assert_eq!(entries[0].1.position, Position { line: 1, column: 7 });
        let topology = mapping(&entries[1].1);
        assert_eq!(topology[0].0.position, Position { line: 3, column: 3 });
        assert_eq!(topology[0].1.position, Position { line: 3, column: 13 });
        let Value::Sequence(items) = &entries[2].1.value else { panic!("not a list") };
        assert_eq!(items[1].position, Position { line: 4, column: 11 });
        assert!(matches!(&items[1].value, Value::Scalar { text, plain: false } if text == "two"));
        let Value::Sequence(items) = &entries[3].1.value else { panic!("not a list") };
        assert_eq!(items[0].position, Position { line: 6, column: 5 }, "a block mapping in a list starts at its first key");
        assert_eq!(mapping(&items[0])[1].1.position, Position { line: 7, column: 8 }, "a flow mapping starts at its brace");
    }

    #[test]
    fn nulls_aliases_and_syntax_errors() {
        let root = parse("a:\nb: &x {c: 1}\nd: *x\ne: 'null'\n").unwrap().unwrap();
        let entries = mapping(&root);
        assert!(entries[0].1.is_null());
        assert_eq!(mapping(&entries[2].1).len(), 1);
        assert!(!entries[3].1.is_null());
        let error = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(error.position.line, 3, "{error:?}");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("").unwrap().is_none());
    }
}
