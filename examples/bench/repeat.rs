//! Figures that hold from run to run: each figure is measured `runs`
//! times; the table shows the median run's figures with the ratio's min,
//! median and max. A target is judged on the median, and only when every
//! run agrees: when some runs meet it and others miss it, the spread is
//! wider than the target's margin and the figure is reported as noisy,
//! neither met nor missed.

use crate::Row;

/// What the runs of one figure say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// The runs disagree: the machine, not the code, decided.
    Noisy,
    /// The figure has no target.
    Untargeted,
}

/// One figure over its runs.
pub struct Combined {
    /// The median run's row (by ratio).
    pub row: Row,
    pub runs: usize,
    pub min: f64,
    pub max: f64,
    pub verdict: Verdict,
}

/// Groups rows by figure, in the order figures were first measured.
pub fn combine(runs: Vec<Vec<Row>>) -> Vec<Combined> {
    let mut groups: Vec<Vec<Row>> = Vec::new();
    for row in runs.into_iter().flatten() {
        match groups.iter_mut().find(|g| g[0].figure == row.figure) {
            Some(g) => g.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups.into_iter().map(combine_one).collect()
}

fn combine_one(mut rows: Vec<Row>) -> Combined {
    let verdict = verdict(rows.iter().map(|r| r.met));
    let runs = rows.len();
    // NaN ratios (figures with no baseline) sort last and are never the
    // min or max shown.
    rows.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
    let finite: Vec<f64> = rows
        .iter()
        .map(|r| r.ratio)
        .filter(|r| r.is_finite())
        .collect();
    let (min, max) = match (finite.first(), finite.last()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (f64::NAN, f64::NAN),
    };
    let median = rows.swap_remove(if finite.is_empty() {
        0
    } else {
        (finite.len() - 1) / 2
    });
    Combined {
        row: median,
        runs,
        min,
        max,
        verdict,
    }
}

fn verdict(mets: impl Iterator<Item = Option<bool>>) -> Verdict {
    let mets: Vec<bool> = mets.flatten().collect();
    if mets.is_empty() {
        Verdict::Untargeted
    } else if mets.iter().all(|m| *m) {
        Verdict::Met
    } else if mets.iter().all(|m| !*m) {
        Verdict::Missed
    } else {
        Verdict::Noisy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(figure: &str, ratio: f64, met: Option<bool>) -> Row {
        Row {
            figure: figure.into(),
            measured: format!("{ratio}"),
            baseline: String::new(),
            ratio,
            ratio_means: "",
            target: String::new(),
            met,
            detail: String::new(),
        }
    }

    #[test]
    fn the_median_run_is_shown_with_the_spread() {
        let c = combine(vec![
            vec![row("a", 3.0, Some(true))],
            vec![row("a", 1.0, Some(true))],
            vec![row("a", 2.0, Some(true))],
        ]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].row.measured, "2");
        assert_eq!((c[0].min, c[0].max, c[0].runs), (1.0, 3.0, 3));
        assert_eq!(c[0].verdict, Verdict::Met);
    }

    #[test]
    fn runs_that_disagree_on_the_target_are_noisy_not_met_or_missed() {
        let c = combine(vec![
            vec![row("a", 1.0, Some(true))],
            vec![row("a", 2.0, Some(false))],
            vec![row("a", 1.5, Some(true))],
        ]);
        assert_eq!(c[0].verdict, Verdict::Noisy);
        let missed = combine((0..3).map(|_| vec![row("b", 1.0, Some(false))]).collect());
        assert_eq!(missed[0].verdict, Verdict::Missed);
    }

    #[test]
    fn figures_keep_their_order_and_a_figure_without_a_ratio_still_combines() {
        let c = combine(vec![
            vec![row("x", f64::NAN, None), row("y", 1.0, Some(true))],
            vec![row("x", f64::NAN, None), row("y", 1.0, Some(true))],
        ]);
        let names: Vec<&str> = c.iter().map(|c| c.row.figure.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(c[0].verdict, Verdict::Untargeted);
        assert!(c[0].min.is_nan());
    }
}
