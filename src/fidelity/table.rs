//! The report as the table `netchaos fidelity` prints: one line per measure, the two inputs'
//! figures, the distance and the verdict with its thresholds.

use std::fmt;

use super::report::{Better, Report, Verdict};

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Close => "close",
            Verdict::Fair => "fair",
            Verdict::Far => "FAR",
            Verdict::NotApplicable => "n/a",
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, input) in [("reference", &self.reference), ("candidate", &self.candidate)] {
            write!(f, "{role}: {} — {} flow records ({} with traffic), {} minutes", input.name, input.flows, input.traffic, input.minutes)?;
            if input.firewall_skipped > 0 {
                write!(f, "; {} firewall records ignored", input.firewall_skipped)?;
            }
            if input.sizes_sampled {
                write!(f, "; sizes sampled ({} per field, seed {:#x})", self.settings.reservoir_size, self.settings.reservoir_seed)?;
            }
            if input.addresses_approximate {
                f.write_str("; address ranks approximate (too many distinct addresses)")?;
            }
            writeln!(f)?;
        }
        let widths = [
            self.rows.iter().map(|row| row.measure.chars().count()).max().unwrap_or(7).max(7),
            self.rows.iter().map(|row| row.reference.chars().count()).max().unwrap_or(9).max(9),
            self.rows.iter().map(|row| row.candidate.chars().count()).max().unwrap_or(9).max(9),
        ];
        writeln!(f)?;
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>8}  verdict (close / far)",
            "measure",
            "reference",
            "candidate",
            "distance",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
        for row in &self.rows {
            let distance = row.distance.map_or("-".to_owned(), |d| format!("{d:.3}"));
            let thresholds = match row.better {
                Better::Lower => format!("<= {} / > {}", row.close, row.far),
                Better::Higher => format!(">= {} / < {}", row.close, row.far),
            };
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:<w2$}  {distance:>8}  {:<5} ({thresholds})",
                row.measure,
                row.reference,
                row.candidate,
                row.verdict.to_string(),
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            )?;
        }
        let (close, fair, far, not_applicable) = self.tally();
        write!(f, "\n{close} close, {fair} fair, {far} far, {not_applicable} not applicable")
    }
}
