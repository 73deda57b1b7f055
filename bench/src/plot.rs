//! PNG plots of the records: one image per T-number (`T1.png`, ...), one
//! bar chart per test and metric, bars at the median with min–max whiskers.
//!
//! Drawn with plotters' bitmap backend and its pure-Rust font rasteriser
//! (ab_glyph), with DejaVu Sans read at run time: no system library.

use std::{fs, path::Path};

use anyhow::{anyhow, Context as _, Result};
use plotters::{
    coord::Shift,
    prelude::*,
    style::{register_font, FontStyle},
};

use crate::{competitor::Competitor, record::Record, report::human, tools::FONT};

const PANEL: (u32, u32) = (520, 340);
const COLUMNS: usize = 3;

/// The colour of a competitor's bars.
fn colour(c: Competitor) -> RGBColor {
    match c {
        Competitor::Routing => RGBColor(140, 140, 140),
        Competitor::Iptables => RGBColor(230, 126, 34),
        Competitor::Nftables => RGBColor(192, 57, 43),
        Competitor::Socat => RGBColor(142, 68, 173),
        Competitor::Haproxy => RGBColor(216, 112, 170),
        Competitor::Fwd => RGBColor(41, 128, 185),
    }
}

/// Writes `T<n>.png` into `dir` for every T-number that has records.
pub(crate) fn render(dir: &Path, records: &[Record]) -> Result<()> {
    let font = fs::read(FONT).with_context(|| format!("reading the font {FONT}"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow!("{FONT} is not a usable font"))?;
    let mut groups: Vec<String> = Vec::new();
    for r in records {
        let t = r.test.split_whitespace().next().unwrap_or("T?").to_string();
        if !groups.contains(&t) {
            groups.push(t);
        }
    }
    for group in groups {
        let mut panels: Vec<(&str, &str)> = Vec::new();
        for r in records
            .iter()
            .filter(|r| r.test.split_whitespace().next() == Some(&group))
        {
            if !panels.contains(&(r.test.as_str(), r.metric.as_str())) {
                panels.push((&r.test, &r.metric));
            }
        }
        let path = dir.join(format!("{group}.png"));
        draw_group(&path, records, &panels)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    Ok(())
}

fn draw_group(path: &Path, records: &[Record], panels: &[(&str, &str)]) -> Result<()> {
    let cols = COLUMNS.min(panels.len()).max(1);
    let rows = panels.len().div_ceil(cols);
    let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let areas = root.split_evenly((rows, cols));
    for (area, (test, metric)) in areas.iter().zip(panels) {
        let rows: Vec<(Competitor, &Record)> = Competitor::ALL
            .into_iter()
            .filter_map(|c| {
                records
                    .iter()
                    .find(|r| r.test == *test && r.metric == *metric && r.competitor == c.label())
                    .map(|r| (c, r))
            })
            .collect();
        panel(area, test, metric, &rows).map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    test: &str,
    metric: &str,
    rows: &[(Competitor, &Record)],
) -> Result<(), Box<dyn std::error::Error>> {
    let unit = rows.first().map_or("", |(_, r)| r.unit.as_str());
    let area = area.titled(test, ("sans-serif", 15))?;
    let area = area.titled(&format!("{metric} ({unit})"), ("sans-serif", 13))?;
    let top = rows
        .iter()
        .filter_map(|(_, r)| r.max.or(r.median))
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.2 } else { 1.0 };
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(&area)
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..top)?;
    let names: Vec<&str> = rows.iter().map(|(c, _)| c.label()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).copied().unwrap_or_default().to_string(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| human(*v))
        .label_style(("sans-serif", 12))
        .draw()?;
    for (i, &(competitor, r)) in rows.iter().enumerate() {
        let style = ("sans-serif", 12).into_font();
        match (r.median, r.min, r.max) {
            (Some(med), Some(lo), Some(hi)) => {
                let c = colour(competitor);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), med),
                    ],
                    c.mix(0.85).filled(),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::CenterOf(i), lo),
                        (SegmentValue::CenterOf(i), hi),
                    ],
                    BLACK.stroke_width(2),
                )))?;
                let label = format!("{}{}", if r.at_least { "≥" } else { "" }, human(med));
                chart.draw_series(std::iter::once(Text::new(
                    label,
                    (SegmentValue::CenterOf(i), hi.max(med) + top * 0.02),
                    style,
                )))?;
            }
            _ => {
                chart.draw_series(std::iter::once(Text::new(
                    "n/a".to_string(),
                    (SegmentValue::CenterOf(i), top * 0.03),
                    style,
                )))?;
            }
        }
    }
    Ok(())
}
