//! A result's memory over time as a small inline SVG (the HTML report's
//! details): the module's RSS as a filled step line (each bucket is the
//! largest value sampled in it, so steps, not slopes), its container's
//! memory dashed, the memory limit when it is near enough to be on the
//! scale, and with `--baseline` the baseline's RSS dotted. A pure function:
//! numbers in, markup out; the only text is ours and goes through
//! `sanitize::html`.

use std::fmt::Write as _;

use crate::model::series::MemorySeries;
use crate::report::{human_bytes, words};
use crate::sanitize;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 22.0;
/// A limit more than this many times the curves' top is left off the scale
/// (it would flatten them) and named in the legend instead.
const LIMIT_ON_SCALE: f64 = 2.0;

/// The SVG of `series`, with `limit` (the container's memory limit) and the
/// baseline's series; empty when the series is.
pub fn svg(series: &MemorySeries, limit: Option<u64>, baseline: Option<&MemorySeries>) -> String {
    if series.is_empty() {
        return String::new();
    }
    let baseline = baseline.filter(|b| !b.is_empty());
    let curves_top = series.max_bytes().max(baseline.map_or(0, MemorySeries::max_bytes)).max(1) as f64;
    let limit_shown = limit.filter(|&l| (l as f64) <= curves_top * LIMIT_ON_SCALE);
    let step = nice_step(curves_top.max(limit_shown.unwrap_or(0) as f64) / 4.0);
    let top = (curves_top.max(limit_shown.unwrap_or(0) as f64) / step).ceil() * step;
    let end_ms = f64::from(series.t_ms.last().copied().unwrap_or(0))
        .max(baseline.and_then(|b| b.t_ms.last()).map_or(0.0, |&t| f64::from(t)))
        .max(1.0);
    let scale = Scale { top, end_ms };
    let title = sanitize::html(&format!("memory over time: {}", words::memory_series(series)));
    // Inline in HTML, whose parser gives it the SVG namespace: no `xmlns`
    // (the page holds no URL at all).
    let mut out = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         role=\"img\" aria-label=\"{title}\" \
         style=\"max-width:100%;height:auto;font:11px system-ui,sans-serif\">\n<title>{title}</title>\n"
    );
    // Gridlines and their sizes.
    let mut y = 0.0;
    while y <= top + step / 2.0 {
        let at = scale.y(y);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" style=\"stroke:var(--grid,#e3e3e3)\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" style=\"fill:var(--muted,#5f5f5f)\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            at + 4.0,
            sanitize::html(&human_bytes(y as u64))
        );
        y += step;
    }
    for (ms, anchor) in [(0.0, "start"), (end_ms / 2.0, "middle"), (end_ms, "end")] {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" style=\"fill:var(--muted,#5f5f5f)\">{}</text>",
            scale.x(ms),
            HEIGHT - 6.0,
            sanitize::html(&format!("{:.2} s", ms / 1000.0))
        );
    }
    let rss = steps(&scale, &series.t_ms, &series.rss_bytes.iter().map(|&b| Some(b)).collect::<Vec<_>>());
    // The area under the line, closed along the axis, then the line itself.
    let (axis, end) = (scale.y(0.0), scale.x(f64::from(*series.t_ms.last().expect("not empty"))));
    let _ = writeln!(
        out,
        "<path d=\"M{LEFT:.1},{axis:.1} L{} L{end:.1},{axis:.1} Z\" style=\"fill:var(--link,#1a56b0);\
         fill-opacity:0.18;stroke:none\"/>\n<path class=\"rss\" d=\"{rss}\" style=\"fill:none;\
         stroke:var(--link,#1a56b0);stroke-width:1.5\"/>",
        &rss[1..]
    );
    let cgroup = steps(&scale, &series.t_ms, &series.cgroup_bytes);
    if !cgroup.is_empty() {
        let _ = writeln!(
            out,
            "<path class=\"cgroup\" d=\"{cgroup}\" style=\"fill:none;stroke:var(--muted,#5f5f5f);\
             stroke-width:1.2;stroke-dasharray:5 3\"/>"
        );
    }
    if let Some(base) = baseline {
        let line = steps(&scale, &base.t_ms, &base.rss_bytes.iter().map(|&b| Some(b)).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "<path class=\"baseline\" d=\"{line}\" style=\"fill:none;stroke:var(--ink,#1f1f1f);\
             stroke-width:1.5;stroke-dasharray:1.5 2.5\"/>"
        );
    }
    if let Some(limit) = limit_shown {
        let at = scale.y(limit as f64);
        let _ = writeln!(
            out,
            "<line class=\"limit\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" \
             style=\"stroke:var(--line,#6a1b9a);stroke-width:2;stroke-dasharray:6 4\"/>",
            WIDTH - RIGHT
        );
    }
    out.push_str(&legend(limit, limit_shown.is_some(), baseline.is_some()));
    out.push_str("</svg>\n");
    out
}

struct Scale {
    top: f64,
    end_ms: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        LEFT + ms / self.end_ms * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, bytes: f64) -> f64 {
        HEIGHT - BOTTOM - bytes / self.top * (HEIGHT - BOTTOM - TOP)
    }
}

/// A step line: each bucket's value held from the previous bucket's end to
/// its own (the first from 0). A missing value breaks the line.
fn steps(scale: &Scale, t_ms: &[u32], values: &[Option<u64>]) -> String {
    let mut d = String::new();
    let mut from = 0.0;
    let mut drawing = false;
    for (&t, value) in t_ms.iter().zip(values) {
        let to = f64::from(t);
        match value {
            Some(v) => {
                let y = scale.y(*v as f64);
                let command = if drawing { 'L' } else { 'M' };
                let _ = write!(d, "{command}{:.1},{y:.1} L{:.1},{y:.1} ", scale.x(from), scale.x(to));
                drawing = true;
            }
            None => drawing = false,
        }
        from = to;
    }
    d.trim_end().to_string()
}

/// 1, 2 or 5 × a power of ten MiB (or of bytes under a MiB), at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let unit = if raw >= f64::from(1u32 << 20) / 10.0 { f64::from(1u32 << 20) } else { 1.0 };
    let raw = (raw / unit).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    step * unit
}

fn legend(limit: Option<u64>, limit_shown: bool, baseline: bool) -> String {
    let mut items = vec![
        ("var(--link,#1a56b0)", "", "module RSS".to_string()),
        ("var(--muted,#5f5f5f)", "5 3", "container (cgroup)".to_string()),
    ];
    if baseline {
        items.push(("var(--ink,#1f1f1f)", "1.5 2.5", "baseline RSS".to_string()));
    }
    match limit {
        Some(l) if limit_shown => {
            items.push(("var(--line,#6a1b9a)", "6 4", format!("limit {}", human_bytes(l))))
        }
        Some(l) => {
            items.push(("var(--line,#6a1b9a)", "6 4", format!("limit {} (off the scale)", human_bytes(l))))
        }
        None => {}
    }
    let mut out = String::new();
    let mut x = LEFT;
    for (colour, dash, label) in items {
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"10\" y2=\"10\" style=\"stroke:{colour};stroke-width:2;stroke-dasharray:{}\"/>\
             <text x=\"{:.1}\" y=\"14\" style=\"fill:var(--ink,#1f1f1f)\">{}</text>",
            x + 16.0,
            if dash.is_empty() { "none" } else { dash },
            x + 20.0,
            sanitize::html(&label)
        );
        x += 30.0 + 6.4 * label.len() as f64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rise_and_fall() -> MemorySeries {
        MemorySeries {
            t_ms: vec![100, 1000, 2000, 3000],
            rss_bytes: vec![10 << 20, 210 << 20, 8 << 20, 8 << 20],
            cgroup_bytes: vec![Some(20 << 20), Some(220 << 20), None, Some(18 << 20)],
        }
    }

    #[test]
    fn the_curve_its_container_the_limit_and_the_baseline_are_drawn() {
        let series = rise_and_fall();
        let baseline = MemorySeries { t_ms: vec![500, 2500], ..rise_and_fall() };
        let baseline =
            MemorySeries { rss_bytes: vec![5 << 20, 100 << 20], cgroup_bytes: vec![None, None], ..baseline };
        let page = svg(&series, Some(256 << 20), Some(&baseline));
        assert!(page.starts_with("<svg class=\"timeline\""), "{page}");
        assert!(
            page.contains("<title>memory over time: RSS peak 210.0 MiB at 1.00 s, 8.0 MiB at 3.00 s</title>")
        );
        assert!(
            page.contains("class=\"rss\"")
                && page.contains("class=\"baseline\"")
                && page.contains("class=\"limit\"")
        );
        assert!(page.contains("limit 256.0 MiB<"), "{page}");
        // The missing cgroup figure breaks that line into two pieces.
        let cgroup = page.lines().find(|l| l.contains("class=\"cgroup\"")).unwrap();
        assert_eq!(cgroup.matches('M').count(), 2, "{cgroup}");
        // Gridlines every 100 MiB, up to the one above the limit.
        let top = nice_step(256.0 * f64::from(1u32 << 20) / 4.0);
        assert_eq!(top, 100.0 * f64::from(1u32 << 20));
        assert!(page.contains(">300.0 MiB<"), "gridlines up to the limit's: {page}");
    }

    #[test]
    fn a_far_limit_is_named_not_drawn_and_nothing_is_drawn_of_nothing() {
        let page = svg(&rise_and_fall(), Some(64 << 30), None);
        assert!(!page.contains("class=\"limit\"") && page.contains("limit 64.0 GiB (off the scale)"));
        assert!(!page.contains("class=\"baseline\""));
        assert_eq!(svg(&MemorySeries::default(), None, None), "");
    }

    #[test]
    fn steps_hold_each_buckets_value_over_its_span() {
        let scale = Scale { top: 100.0, end_ms: 100.0 };
        let d = steps(&scale, &[50, 100], &[Some(100), Some(0)]);
        let (top, bottom) = (scale.y(100.0), scale.y(0.0));
        assert_eq!(
            d,
            format!(
                "M{LEFT:.1},{top:.1} L{:.1},{top:.1} L{:.1},{bottom:.1} L{:.1},{bottom:.1}",
                scale.x(50.0),
                scale.x(50.0),
                scale.x(100.0)
            )
        );
    }
}
