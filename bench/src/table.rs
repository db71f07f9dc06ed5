//! The results table: one row per figure, with its baseline, ratio, target and verdict,
//! rendered as markdown.

use std::fmt::Write as _;

/// Whether a row meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The target is met.
    Pass,
    /// The target is missed.
    Fail,
    /// No target: shown for information.
    Info,
}

impl Verdict {
    /// `Pass` when `ok`, else `Fail`.
    pub fn check(ok: bool) -> Self {
        if ok { Self::Pass } else { Self::Fail }
    }

    /// The cell text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "**FAIL**",
            Self::Info => "info",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Figure number and short name, e.g. `1 throughput`.
    pub figure: String,
    /// What is measured.
    pub measure: String,
    /// The measured value.
    pub value: String,
    /// The baseline (or lower bound) beside it; empty when none.
    pub baseline: String,
    /// value / baseline; empty when none.
    pub ratio: String,
    /// The target; empty when none.
    pub target: String,
    /// Whether the target is met.
    pub verdict: Verdict,
}

impl Row {
    /// A row with a value only (no baseline, ratio or target).
    pub fn info(figure: &str, measure: &str, value: impl Into<String>) -> Self {
        Self {
            figure: figure.to_owned(),
            measure: measure.to_owned(),
            value: value.into(),
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// Sets the baseline and ratio cells.
    #[must_use]
    pub fn baseline(mut self, baseline: impl Into<String>, ratio: Option<f64>) -> Self {
        self.baseline = baseline.into();
        self.ratio = ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        self
    }

    /// Sets the target cell and the verdict.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>, verdict: Verdict) -> Self {
        self.target = target.into();
        self.verdict = verdict;
        self
    }
}

/// All rows, plus notes printed under the table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

const HEADER: [&str; 7] = [
    "Figure", "Measure", "Value", "Baseline", "Ratio", "Target", "Result",
];

fn cell(text: &str) -> String {
    // A `|` would end the cell; a newline would end the row.
    text.replace('|', "\\|").replace('\n', " ")
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Adds a note, printed as a bullet under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The rows whose target is missed.
    pub fn failures(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .collect()
    }

    /// The table as GitHub markdown, followed by the notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
        for r in &self.rows {
            let cells = [
                r.figure.as_str(),
                r.measure.as_str(),
                r.value.as_str(),
                r.baseline.as_str(),
                r.ratio.as_str(),
                r.target.as_str(),
                r.verdict.as_str(),
            ];
            let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {}", n.replace('\n', " "));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_as_markdown_with_escaped_cells_and_notes() {
        let mut t = Table::new();
        t.push(
            Row::info("1 throughput", "req/s at c=64", "1000")
                .baseline("2000", Some(0.5))
                .target(">= 0.70 x baseline", Verdict::Fail),
        );
        t.push(Row::info("4 calls", "a|b", "3"));
        t.note("measured on 2 cores");
        let md = t.render();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| Figure | Measure | Value | Baseline | Ratio | Target | Result |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| 1 throughput | req/s at c=64 | 1000 | 2000 | 0.50 | >= 0.70 x baseline | **FAIL** |"
        );
        assert_eq!(lines[3], "| 4 calls | a\\|b | 3 |  |  |  | info |");
        assert_eq!(lines[4], "");
        assert_eq!(lines[5], "- measured on 2 cores");
        assert_eq!(t.failures().len(), 1);
    }

    #[test]
    fn every_row_has_as_many_cells_as_the_header() {
        let mut t = Table::new();
        t.push(Row::info("x", "y", "z").baseline("b", None));
        let md = t.render();
        let lines: Vec<&str> = md.lines().collect();
        for line in [lines[0], lines[2]] {
            assert_eq!(line.matches(" | ").count(), 6, "{line}");
        }
        assert!(md.contains("| n/a |"));
        assert_eq!(Verdict::check(true), Verdict::Pass);
        assert!(t.failures().is_empty());
    }
}
