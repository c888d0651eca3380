//! The ML metrics of `netchaos score`, as pure functions. TEMPORARY STAND-INS until the metrics
//! branch lands: every function is replaced there.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}
#[derive(Debug)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}
#[derive(Debug)]
pub enum Bias {
    Flat,
    Front,
    Back,
    Middle,
}
#[derive(Debug)]
pub enum Cardinality {
    One,
    Reciprocal,
}
#[derive(Debug)]
pub struct RangeParams {
    pub alpha: f64,
    pub bias: Bias,
    pub cardinality: Cardinality,
}
#[derive(Debug)]
pub struct Affiliation {
    pub precision: f64,
    pub recall: f64,
}
pub fn ranges_of(labels: &[bool]) -> Vec<Range> {
    let mut ranges = Vec::new();
    let mut start = None;
    for (index, &label) in labels.iter().chain(std::iter::once(&false)).enumerate() {
        match (label, start) {
            (true, None) => start = Some(index as u64),
            (false, Some(begin)) => {
                ranges.push(Range { start: begin, end: index as u64 });
                start = None;
            }
            _ => {}
        }
    }
    ranges
}
pub fn point_prf(_labels: &[bool], _predicted: &[bool]) -> Prf {
    Prf { precision: f64::NAN, recall: f64::NAN, f1: f64::NAN }
}
pub fn point_adjusted_prf(labels: &[bool], predicted: &[bool]) -> Prf {
    point_prf(labels, predicted)
}
pub fn range_recall(_real: &[Range], _predicted: &[Range], _params: &RangeParams) -> f64 {
    f64::NAN
}
pub fn range_precision(_real: &[Range], _predicted: &[Range], _params: &RangeParams) -> f64 {
    f64::NAN
}
pub fn affiliation(_real: &[Range], _predicted: &[Range], _span: Range) -> Option<Affiliation> {
    None
}
pub fn auc_pr(_labels: &[bool], _scores: &[f64]) -> f64 {
    f64::NAN
}
pub fn vus_pr(_labels: &[bool], _scores: &[f64], _max_window: usize) -> f64 {
    f64::NAN
}
