//! The figures of one run: printed as they come, then as one table on
//! stdout, in `docs/benchmarks.md` and as an SVG chart of the ratios.

use std::fmt::Write as _;

/// Which way a figure is good.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One figure of rusm's, and the same figure of a peer when there is one.
pub struct Row {
    /// What is measured, e.g. "spawn+exit".
    pub figure: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// Which rusm ran it, e.g. "Rust component".
    pub rusm: String,
    pub rusm_value: f64,
    /// The peer and its figure: `None` for rusm-only figures, or when the
    /// peer is not installed (`peer` then says so).
    pub peer: Option<(String, Option<f64>)>,
}

impl Row {
    /// A figure where more is better, rusm's alone until `against`.
    pub fn higher(figure: &'static str, unit: &'static str, rusm: &str, value: f64) -> Row {
        Row {
            figure,
            unit,
            better: Better::Higher,
            rusm: rusm.to_string(),
            rusm_value: value,
            peer: None,
        }
    }

    /// A figure where less is better (a latency, a size).
    pub fn lower(figure: &'static str, unit: &'static str, rusm: &str, value: f64) -> Row {
        Row {
            better: Better::Lower,
            ..Row::higher(figure, unit, rusm, value)
        }
    }

    /// The same figure of `peer`: its name, and its value unless it is
    /// not installed.
    pub fn against(self, peer: (String, Option<f64>)) -> Row {
        Row {
            peer: Some(peer),
            ..self
        }
    }

    /// One line as the figure comes in.
    pub fn progress(&self) -> String {
        format!(
            "{}, {}: {}",
            self.figure,
            self.rusm,
            format_value(self.rusm_value, self.unit)
        )
    }

    /// rusm's figure over the peer's.
    pub fn ratio(&self) -> Option<f64> {
        let (_, peer) = self.peer.as_ref()?;
        peer.map(|peer| self.rusm_value / peer)
    }

    /// The ratio turned so that above 1 means rusm does better (faster, or
    /// leaner), whichever way the figure is good.
    pub fn standing(&self) -> Option<f64> {
        self.ratio().map(|ratio| match self.better {
            Better::Higher => ratio,
            Better::Lower => 1.0 / ratio,
        })
    }
}

/// Where and when the run was made.
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub date: String,
    /// The peers' versions, e.g. "Erlang/OTP 25".
    pub peers: Vec<String>,
}

impl Machine {
    pub fn read(peers: Vec<String>) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|line| line.strip_prefix("model name"))
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map_or_else(|| "unknown date".into(), |d| d.trim().to_string());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            date,
            peers,
        }
    }
}

/// A figure with its unit, thousands separated.
pub fn format_value(value: f64, unit: &str) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (n, c) in whole.chars().enumerate() {
        if n > 0 && (whole.len() - n) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if let Some(fraction) = fraction {
        grouped.push('.');
        grouped.push_str(fraction);
    }
    format!("{grouped} {unit}")
}

fn format_ratio(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}x")
    } else if ratio >= 0.1 {
        format!("{ratio:.2}x")
    } else {
        format!("{ratio:.4}x")
    }
}

/// The cells of one row, as the table shows them.
fn cells(row: &Row) -> [String; 6] {
    let (peer, peer_value) = match &row.peer {
        None => ("—".to_string(), "—".to_string()),
        Some((peer, None)) => (peer.clone(), "not installed".to_string()),
        Some((peer, Some(value))) => (peer.clone(), format_value(*value, row.unit)),
    };
    let ratio = row.ratio().map_or_else(|| "—".to_string(), format_ratio);
    let better = match row.better {
        Better::Higher => "higher",
        Better::Lower => "lower",
    };
    [
        format!("{} ({better} is better)", row.figure),
        row.rusm.clone(),
        format_value(row.rusm_value, row.unit),
        peer,
        peer_value,
        ratio,
    ]
}

const HEADINGS: [&str; 6] = [
    "figure",
    "rusm",
    "rusm's figure",
    "peer",
    "peer's figure",
    "rusm / peer",
];

/// The whole table, aligned for a terminal.
pub fn text_table(rows: &[Row]) -> String {
    let rows: Vec<[String; 6]> = rows.iter().map(cells).collect();
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (n, (cell, width)) in cells.iter().zip(widths).enumerate() {
            // Figures read best right-aligned.
            let right = matches!(n, 2 | 4 | 5);
            let pad = width - cell.chars().count();
            let (before, after) = if right { (pad, 0) } else { (0, pad) };
            let _ = write!(out, "{}{cell}{}  ", " ".repeat(before), " ".repeat(after));
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut out, &HEADINGS.map(String::from));
    for row in &rows {
        line(&mut out, row);
    }
    out
}

/// `docs/benchmarks.md`: the machine, the table, the chart, how to rerun.
pub fn markdown(machine: &Machine, rows: &[Row], notes: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `bash ci/bench` on {}: {} cores ({}), loopback only, release build. \
         Peers: {}. Each pair ran back to back in the same run; the ratio is rusm's \
         figure over the peer's.\n",
        machine.date,
        machine.cores,
        machine.cpu,
        machine.peers.join(", ")
    );
    let _ = writeln!(out, "![rusm against its peers](benchmarks.svg)\n");
    let _ = writeln!(out, "| {} |", HEADINGS.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADINGS.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", cells(row).join(" | "));
    }
    out.push('\n');
    out.push_str(notes);
    out
}

/// A bar per ratio on a log scale around 1: right of the line rusm does
/// better, left the peer does. The ratio as measured (rusm / peer) is
/// written in a column of its own on the right.
pub fn svg(machine: &Machine, rows: &[Row]) -> String {
    let rows: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|row| row.standing().map(|s| (row, s)))
        .collect();
    let label_width = 430.0;
    let chart_width = 520.0;
    let row_height = 22.0;
    let top = 52.0;
    let ratio_x = label_width + chart_width + 16.0;
    let width = ratio_x + 100.0;
    let height = top + row_height * rows.len() as f64 + 44.0;
    // Decades shown either side of 1.
    let decades = rows
        .iter()
        .map(|(_, s)| s.log10().abs().ceil())
        .fold(1.0_f64, f64::max)
        .min(4.0);
    let centre = label_width + chart_width / 2.0;
    let per_decade = chart_width / 2.0 / decades;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">rusm against its peers ({} cores, {})</text>"#,
        machine.cores, machine.date
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="38" fill="#555">log scale: right of the line rusm does better (faster, or leaner), left the peer does</text>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{ratio_x}" y="{}" font-weight="bold">rusm / peer</text>"#,
        top - 6.0
    );
    for decade in -(decades as i32)..=(decades as i32) {
        let x = centre + f64::from(decade) * per_decade;
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{}" stroke="{}"/>"##,
            top + row_height * rows.len() as f64,
            if decade == 0 { "#000" } else { "#ddd" }
        );
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            top + row_height * rows.len() as f64 + 16.0,
            match decade {
                0 => "par".to_string(),
                d => format!("{}x", 10_f64.powi(d.abs())),
            }
        );
    }
    let axis = top + row_height * rows.len() as f64 + 32.0;
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{axis}" text-anchor="end" fill="#c0392b">&#8592; the peer does better</text>"##,
        centre - 8.0
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{axis}" fill="#3a7d44">rusm does better &#8594;</text>"##,
        centre + 8.0
    );
    for (n, (row, standing)) in rows.iter().enumerate() {
        let y = top + row_height * n as f64;
        let label = format!(
            "{}: {} vs {}",
            row.figure,
            row.rusm,
            row.peer.as_ref().map_or("", |(p, _)| p)
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_width - 8.0,
            y + 15.0,
            escape(&label)
        );
        let length = standing.log10().clamp(-decades, decades) * per_decade;
        let (x, w) = if length >= 0.0 {
            (centre, length)
        } else {
            (centre + length, -length)
        };
        let colour = if length >= 0.0 { "#3a7d44" } else { "#c0392b" };
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
            y + 4.0,
            w.max(1.0),
            row_height - 8.0
        );
        let ratio = row.ratio().map_or_else(String::new, format_ratio);
        let _ = writeln!(
            out,
            r#"<text x="{ratio_x}" y="{}">{ratio}</text>"#,
            y + 15.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_grouped_by_thousands() {
        assert_eq!(format_value(1_234_567.4, "/s"), "1,234,567 /s");
        assert_eq!(format_value(123.0, "/s"), "123 /s");
        assert_eq!(format_value(12.34, "us"), "12.3 us");
        assert_eq!(format_value(0.661, "us"), "0.66 us");
    }

    #[test]
    fn standing_turns_lower_is_better_figures() {
        let row = |better, rusm_value| Row {
            figure: "f",
            unit: "us",
            better,
            rusm: "r".into(),
            rusm_value,
            peer: Some(("p".into(), Some(10.0))),
        };
        assert_eq!(row(Better::Higher, 20.0).standing(), Some(2.0));
        assert_eq!(row(Better::Lower, 20.0).standing(), Some(0.5));
        let alone = Row {
            peer: None,
            ..row(Better::Higher, 1.0)
        };
        assert_eq!(alone.ratio(), None);
    }
}
