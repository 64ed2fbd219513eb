//! `--memray`'s flame graph: one self-contained SVG drawn from the stacks
//! memray recorded (root on top, each frame as wide as the bytes allocated
//! under it), with the module's own frames in a colour of their own, a
//! tooltip per frame and a small inline search. Nothing is loaded from
//! elsewhere, so it opens offline and as a CI artifact. Every text in it
//! came from the module's capture: escaped, and never markup.

use std::fmt::Write;

use crate::model::memray::{Frame, Stack};
use crate::report::words;
use crate::sanitize;

const WIDTH: f64 = 1200.0;
const ROW: f64 = 18.0;
const TOP: f64 = 48.0;
const MARGIN: f64 = 10.0;
/// Frames narrower than this are not drawn (their bytes stay in their parent's width).
const MIN_WIDTH: f64 = 0.3;
/// About how wide a character of the 12 px font is.
const CHAR_WIDTH: f64 = 7.0;

/// A frame with the bytes of every stack through it, its callees below.
#[derive(Default)]
struct Node {
    bytes: u64,
    children: Vec<(Frame, Node)>,
}

impl Node {
    fn add(&mut self, frames: &[Frame], bytes: u64) {
        self.bytes += bytes;
        if let Some((first, rest)) = frames.split_first() {
            let at = match self.children.iter().position(|(frame, _)| frame == first) {
                Some(at) => at,
                None => {
                    self.children.push((first.clone(), Node::default()));
                    self.children.len() - 1
                }
            };
            self.children[at].1.add(rest, bytes);
        }
    }

    fn depth(&self) -> usize {
        self.children.iter().map(|(_, child)| child.depth() + 1).max().unwrap_or(0)
    }
}

/// The page. `title` says what is drawn; `own_file` is the module's path in
/// its container (its frames stand out); `omitted_bytes` are the smallest
/// stacks the summary left out, drawn as one frame.
pub fn svg(title: &str, stacks: &[Stack], omitted_bytes: u64, own_file: &str) -> String {
    let mut root = Node::default();
    for stack in stacks {
        root.add(&stack.frames, stack.bytes);
    }
    if omitted_bytes > 0 {
        root.add(&[Frame(words::FLAMEGRAPH_OMITTED.into(), String::new(), 0)], omitted_bytes);
    }
    let height = TOP + (root.depth() as f64 + 1.0) * ROW + MARGIN;
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"monospace\" font-size=\"12\">\n\
         <style>{STYLE}</style>\n<script><![CDATA[{SCRIPT}]]></script>\n\
         <rect width=\"100%\" height=\"100%\" class=\"background\"/>\n\
         <text x=\"{MARGIN}\" y=\"20\" class=\"title\">{}</text>\n\
         <text x=\"{MARGIN}\" y=\"38\" id=\"search\" onclick=\"search()\">{}</text>\n\
         <text x=\"{}\" y=\"38\" id=\"matched\" text-anchor=\"end\"></text>\n",
        sanitize::html(title),
        words::FLAMEGRAPH_SEARCH,
        WIDTH - MARGIN
    );
    let total = root.bytes.max(1) as f64;
    let scale = (WIDTH - 2.0 * MARGIN) / total;
    let all = Frame(words::FLAMEGRAPH_ROOT.into(), String::new(), 0);
    draw(&mut out, &all, &root, MARGIN, 0, scale, total, own_file);
    out.push_str("</svg>\n");
    out
}

#[allow(clippy::too_many_arguments)]
fn draw(
    out: &mut String,
    frame: &Frame,
    node: &Node,
    x: f64,
    depth: usize,
    scale: f64,
    total: f64,
    own: &str,
) {
    let width = node.bytes as f64 * scale;
    if width < MIN_WIDTH {
        return;
    }
    let y = TOP + depth as f64 * ROW;
    let Frame(function, file, line) = frame;
    let place = if file.is_empty() { String::new() } else { format!(" ({file}:{line})") };
    let tip = format!(
        "{function}{place}: {} ({:.1} %)",
        words::human_bytes(node.bytes),
        node.bytes as f64 * 100.0 / total
    );
    let class = if !own.is_empty() && file == own {
        "own"
    } else if file.starts_with('<') || file.contains("/lib/python") {
        "python"
    } else {
        "other"
    };
    let fits = ((width - 6.0) / CHAR_WIDTH).max(0.0) as usize;
    let label: String = if function.chars().count() <= fits {
        function.clone()
    } else if fits > 2 {
        function.chars().take(fits - 2).chain("..".chars()).collect()
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "<g class=\"{class}\"><title>{}</title><rect x=\"{x:.2}\" y=\"{y:.1}\" width=\"{width:.2}\" \
         height=\"{:.1}\" rx=\"2\"/><text x=\"{:.2}\" y=\"{:.1}\">{}</text></g>",
        sanitize::html(&tip),
        ROW - 1.0,
        x + 3.0,
        y + ROW - 5.0,
        sanitize::html(&label)
    );
    let mut children: Vec<&(Frame, Node)> = node.children.iter().collect();
    children.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
    let mut at = x;
    for (child_frame, child) in children {
        draw(out, child_frame, child, at, depth + 1, scale, total, own);
        at += child.bytes as f64 * scale;
    }
}

const STYLE: &str = "\
.background { fill: #fdfdf8; }
.title { font-size: 15px; font-weight: bold; }
#search { cursor: pointer; text-decoration: underline; fill: #2457a6; }
g rect { stroke: #fdfdf8; stroke-width: 0.5; }
g.own rect { fill: #e8743b; }
g.python rect { fill: #a7b8cc; }
g.other rect { fill: #8fc18f; }
g.match rect { fill: #d23cd2; }
g text { pointer-events: none; }
";

/// Search: frames whose tooltip holds the term turn magenta; the share of
/// bytes under the outermost matches is shown.
const SCRIPT: &str = r#"
function search() {
  var term = prompt("Search frames (function, file or line):", "");
  var frames = document.querySelectorAll("g");
  // The first frame drawn is the root: all the bytes.
  var total = frames.length ? parseFloat(frames[0].querySelector("rect").getAttribute("width")) : 1;
  var matched = 0, seen = [];
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i], rect = g.querySelector("rect"), tip = g.querySelector("title").textContent;
    var width = parseFloat(rect.getAttribute("width"));
    var hit = !!term && tip.indexOf(term) >= 0;
    g.classList.toggle("match", hit);
    if (!hit) continue;
    var x = parseFloat(rect.getAttribute("x")), inside = false;
    for (var j = 0; j < seen.length; j++) if (x >= seen[j][0] && x + width <= seen[j][1] + 0.01) inside = true;
    if (!inside) { seen.push([x, x + width]); matched += width; }
  }
  document.getElementById("matched").textContent = term ? "matched " + (100 * matched / (total || 1)).toFixed(1) + " %" : "";
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[(&str, &str, u32)], bytes: u64) -> Stack {
        let frames = frames.iter().map(|(f, file, l)| Frame(f.to_string(), file.to_string(), *l)).collect();
        Stack { frames, bytes, allocations: 1 }
    }

    #[test]
    fn frames_are_as_wide_as_their_bytes_and_the_modules_own_stand_out() {
        let stacks = [
            stack(&[("<module>", "/t/test_a.py", 3), ("grow", "/t/test_a.py", 2)], 300),
            stack(
                &[("<module>", "/t/test_a.py", 4), ("dumps", "/usr/lib/python3.13/json/__init__.py", 9)],
                100,
            ),
        ];
        let page = svg("peak of test_a.py", &stacks, 0, "/t/test_a.py");
        assert!(page.starts_with("<?xml") && page.ends_with("</svg>\n"));
        assert!(
            page.contains("<g class=\"own\"><title>grow (/t/test_a.py:2): 300 B (75.0 %)</title>"),
            "{page}"
        );
        assert!(page.contains("<g class=\"python\"><title>dumps (/usr/lib/python3.13/json/__init__.py:9)"));
        // The root spans the drawable width; grow three quarters of it.
        assert!(page.contains(&format!("width=\"{:.2}\"", WIDTH - 2.0 * MARGIN)));
        assert!(page.contains(&format!("width=\"{:.2}\"", (WIDTH - 2.0 * MARGIN) * 0.75)));
        assert!(!page.contains("href") && !page.contains("src="), "nothing loaded from elsewhere");
    }

    #[test]
    fn what_the_capture_says_is_text_never_markup() {
        let hostile = "</title><script>alert(1)</script>\u{1}";
        let page = svg(hostile, &[stack(&[(hostile, hostile, 1)], 10)], 5, "");
        assert_eq!(page.matches("<script>").count(), 1, "only the page's own script");
        assert!(!page.contains('\u{1}'), "no character XML forbids");
        assert!(page.contains(words::FLAMEGRAPH_OMITTED), "the omitted stacks are one frame");
    }
}
