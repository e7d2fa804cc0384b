//! The parts every report page shares: the document around the sections, the inline style and
//! script, HTML escaping, numbers in their units, the chart gallery, the model, the file links.

use serde_json::Value;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Text for HTML (and XML) element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A metric name that may break after its dots in a narrow table header.
pub fn breakable(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        out.push_str(&escape(&c.to_string()));
        if matches!(c, '.' | '/' | ',') {
            out.push_str("<wbr/>");
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; --ink: #1a1a1a; --muted: #5a5a5a; --line: #d8d8d8; --band: #f4f6f8; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1120px; padding: 1.5rem 1.25rem 4rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p.lead { font-size: 1.05rem; margin: .2rem 0 .6rem; }
.meta { color: var(--muted); font-size: .9rem; margin: .2rem 0; }
nav { font-size: .9rem; margin: .8rem 0 0; }
nav a { margin-right: 1rem; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: .85rem; }
.answer { background: var(--band); border-left: 4px solid var(--accent); padding: .7rem 1rem; margin: 1rem 0; }
.answer .big { font-size: 1.3rem; font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9rem; margin: .4rem 0 .8rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; vertical-align: top; text-align: left; }
th { background: var(--band); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
.pm { color: var(--muted); font-size: .8rem; }
.diff { display: block; font-size: .78rem; color: var(--muted); }
.diff.sig { color: #8a3b00; font-weight: 600; }
.diff.inline { display: inline; font-size: inherit; }
tr.base td { background: #fbfbe8; }
tr.pick td { background: #e9f5ea; font-weight: 600; }
.ok { color: #1d6b2a; } .bad { color: #a12020; } .undecided { color: #8a6d00; }
figure { margin: .8rem 0 1.4rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figure img.broken { outline: 3px solid #c00; min-height: 3rem; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .25rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--band); padding: .8rem; overflow-x: auto; border: 1px solid var(--line); }
ul.files li { margin: .15rem 0; }
td code.wrap { overflow-wrap: anywhere; }
ul.values { margin: 0; padding-left: 1.1rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
";

/// Records, once the page has loaded, how many images it has and how many rendered (a
/// complete image with a width), on `<body>` (data-images, data-images-rendered), and outlines
/// any that did not. Written without `<` or `&` so that the page stays well-formed XML.
const SCRIPT: &str = "
window.addEventListener('load', function () {
  var rendered = 0;
  Array.prototype.forEach.call(document.images, function (im) {
    if (im.complete) { if (im.naturalWidth > 0) { rendered += 1; return; } }
    im.classList.add('broken');
  });
  document.body.setAttribute('data-images', String(document.images.length));
  document.body.setAttribute('data-images-rendered', String(rendered));
});
";

/// Only images of the page's own origin (its directory, under file://); inline style and
/// script; nothing else, so opening the page never reaches the network.
const CSP: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

/// The whole document: `title` (already plain text), then the sections (HTML) in order, each
/// (id, heading, body); a navigation line links them.
pub fn document(title: &str, header: &str, sections: &[(&str, &str, String)]) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
    let _ = writeln!(s, "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\" />", escape(CSP));
    let _ = writeln!(s, "<meta name=\"generator\" content=\"ddsim {}\" />", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    let _ = writeln!(s, "<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head>\n<body>");
    let _ = writeln!(s, "<header>\n{header}");
    s.push_str("<nav>");
    for (id, heading, body) in sections {
        if !body.is_empty() {
            let _ = write!(s, "<a href=\"#{id}\">{}</a>", escape(heading));
        }
    }
    s.push_str("</nav>\n</header>\n");
    for (id, heading, body) in sections {
        if !body.is_empty() {
            let _ = writeln!(s, "<section id=\"{id}\">\n<h2>{}</h2>\n{body}</section>", escape(heading));
        }
    }
    let _ = writeln!(
        s,
        "<footer>Written by ddsim {}. Every file linked here is in this directory; \
         the page loads nothing from the network.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    s
}

/// What a metric measures, by its name: seconds, bytes, a share (a ratio or a utilisation), or
/// a count.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Seconds,
    Bytes,
    Share,
    Count,
}

pub fn kind_of(metric: &str) -> Kind {
    if metric.ends_with(".count") || metric.ends_with(".hour_of_day") || metric.ends_with(".days") {
        Kind::Count
    } else if metric.contains('/') || metric.contains("utilisation") {
        Kind::Share
    } else if metric.ends_with("_s") || metric.contains("_s.") {
        Kind::Seconds
    } else if metric.contains("bytes") {
        Kind::Bytes
    } else {
        Kind::Count
    }
}

/// Three significant digits, trailing zeros removed; large values rounded and grouped by
/// thousands (`12,345`).
fn plain(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let digits = format!("{:.0}", a);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if v < 0.0 { format!("-{grouped}") } else { grouped };
    }
    if a == 0.0 {
        return "0".into();
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 12) as usize;
    crate::units::trimmed(v, decimals)
}

/// A value of a metric in its unit: `14.2m`, `1.5 MiB`, `0.42%`, `3,003`; `-` when undefined.
pub fn fmt_value(metric: &str, v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    match kind_of(metric) {
        Kind::Seconds => crate::units::format_duration_short(v),
        Kind::Share => format!("{}%", plain(v * 100.0)),
        Kind::Bytes => crate::units::format_bytes(v),
        Kind::Count => plain(v),
    }
}

/// A difference of shares in percentage points: `+28.4 pp`.
pub fn fmt_points(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = plain(v * 100.0);
    if v > 0.0 { format!("+{s} pp") } else { format!("{s} pp") }
}

/// A relative change as a signed percentage: `-89.9%`, `+3.1%`.
pub fn fmt_rel(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = plain(v * 100.0);
    if v > 0.0 { format!("+{s}%") } else { format!("{s}%") }
}

/// A table cell of a summarised metric (`{mean, ci95_low, ci95_high, n}`): the mean and the
/// half-width of its 95% interval.
pub fn stat_cell(metric: &str, st: &Value) -> String {
    let mean = st["mean"].as_f64().unwrap_or(f64::NAN);
    let (lo, hi) = (st["ci95_low"].as_f64(), st["ci95_high"].as_f64());
    let mut s = escape(&fmt_value(metric, mean));
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let half = (hi - lo) / 2.0;
        let _ = write!(s, " <span class=\"pm\">± {}</span>", escape(&fmt_value(metric, half)));
    }
    s
}

/// Readable names of the metrics a planner looks at first; others are shown by their name.
pub fn label_of(metric: &str) -> Option<&'static str> {
    Some(match metric {
        "deferred.offered" => "messages stored for offline users",
        "deferred.delivered" => "delivered later",
        "deferred.dropped_overflow" => "lost: store overflow",
        "deferred.dropped_overflow/deferred.offered" => "share lost to store overflow",
        "deferred.expired" => "lost: expired (TTL)",
        "deferred.discarded_decline" => "discarded: declined (603)",
        "deferred.discarded_bye" => "discarded: BYE",
        "deferred.pending_at_end" => "still pending at the end",
        "deferred.pending_at_warmup" => "pending when the window opened",
        "deferred.queued_behind" => "held behind older pending data",
        "delivery.latency_s.p50" => "delivery latency, median",
        "delivery.latency_s.p95" => "delivery latency, 95th percentile",
        "delivery.latency_s.p99" => "delivery latency, 99th percentile",
        "delivery.latency_s.max" => "delivery latency, largest",
        "delivery.after_register_s.p95" => "delay after re-registration, p95",
        "store.occupancy.peak" => "peak items stored",
        "store.bytes.peak" => "peak bytes stored",
        "delivery.invites" => "delivery INVITEs",
        "sip.responses.503" => "503 responses",
        "workload.deferred_demand" => "demand on the stores",
        _ => return None,
    })
}

/// A table header cell for a metric: its readable name, if it has one, over its name.
pub fn metric_th(metric: &str) -> String {
    let name = format!("<code>{}</code>", breakable(metric));
    match label_of(metric) {
        Some(l) => format!("<th class=\"num\">{}<br/>{name}</th>", escape(l)),
        None => format!("<th class=\"num\">{name}</th>"),
    }
}

/// The files of `dir/charts/` (and its subdirectories), relative to `dir`, one per chart: the
/// PNG where there is one (drawn with the bundled font, so it looks the same in every
/// browser), else the SVG.
fn chart_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(d) else { return };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                walk(root, &p, out);
                continue;
            }
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            let png_twin = ext == "svg" && p.with_extension("png").exists();
            if (ext == "png" || ext == "svg") && !png_twin {
                out.push(p.strip_prefix(root).expect("under the root").to_path_buf());
            }
        }
    }
    let mut out = vec![];
    walk(dir, &dir.join("charts"), &mut out);
    out
}

/// A relative path as a URL path (forward slashes, each segment percent-encoded as needed).
pub fn href(rel: &Path) -> String {
    let segments: Vec<String> = rel
        .components()
        .map(|c| {
            let s = c.as_os_str().to_string_lossy();
            let mut out = String::new();
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~=,+".contains(&b) {
                    out.push(b as char);
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            out
        })
        .collect();
    escape(&segments.join("/"))
}

/// The texts of the first `n` `<text>` elements of an SVG chart (its title, then its subtitle).
fn svg_texts(svg: &Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(svg) else { return vec![] };
    let mut out = vec![];
    let mut rest = text.as_str();
    while out.len() < n {
        let Some(start) = rest.find("<text") else { break };
        let Some(open_end) = rest[start..].find('>') else { break };
        let body = &rest[start + open_end + 1..];
        let Some(close) = body.find("</text>") else { break };
        let t = body[..close]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        out.push(t);
        rest = &body[close..];
    }
    out
}

/// The width and height of a PNG, from its header.
fn png_size(p: &Path) -> Option<(u32, u32)> {
    use std::io::Read;
    let mut head = [0u8; 24];
    std::fs::File::open(p).ok()?.read_exact(&mut head).ok()?;
    (&head[1..4] == b"PNG").then(|| {
        (
            u32::from_be_bytes(head[16..20].try_into().expect("4 bytes")),
            u32::from_be_bytes(head[20..24].try_into().expect("4 bytes")),
        )
    })
}

/// Every chart of `dir/charts/`, grouped as drawn: the charts of one declaration (its number
/// before the first `-`) under one heading, each with what sets it apart (after `--`) as its
/// caption. Each image links to its SVG. Empty if there are no charts.
pub fn gallery(dir: &Path) -> String {
    let files = chart_files(dir);
    if files.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    let mut last_group: Option<String> = None;
    for rel in &files {
        let stem = rel.file_stem().map(|x| x.to_string_lossy().to_string()).unwrap_or_default();
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        let (base, fixed) = match stem.split_once("--") {
            Some((b, f)) => (b.to_string(), Some(f.to_string())),
            None => (stem.clone(), None),
        };
        let group = format!("{}/{base}", parent.display());
        let svg = rel.with_extension("svg");
        let texts = svg_texts(&dir.join(&svg), 2);
        let title = texts.first().cloned().unwrap_or_else(|| {
            let words = base.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-').replace('-', " ");
            if words.is_empty() { stem.clone() } else { words }
        });
        if last_group.as_ref() != Some(&group) {
            let _ = writeln!(s, "<h3>{}</h3>", escape(&title));
            last_group = Some(group);
        }
        let alt = texts.join(": ");
        let size = png_size(&dir.join(rel)).map(|(w, h)| format!(" width=\"{w}\" height=\"{h}\"")).unwrap_or_default();
        s.push_str("<figure>");
        let img = format!(
            "<img src=\"{}\" alt=\"{}\"{size} />",
            href(rel),
            escape(if alt.is_empty() { &title } else { &alt })
        );
        if rel.extension().is_some_and(|e| e == "png") && dir.join(&svg).exists() {
            let _ = write!(s, "<a href=\"{}\" title=\"the chart as SVG\">{img}</a>", href(&svg));
        } else {
            s.push_str(&img);
        }
        if let Some(f) = fixed {
            let _ = write!(s, "<figcaption>{}</figcaption>", escape(&f.replace('-', " ")));
        }
        s.push_str("</figure>\n");
    }
    s
}

/// A JSON document, pretty-printed and escaped, in a collapsible block.
pub fn json_details(summary: &str, v: &Value, open: bool) -> String {
    let text = serde_json::to_string_pretty(v).expect("JSON values serialize");
    format!(
        "<details{}><summary>{}</summary>\n<pre>{}</pre>\n</details>\n",
        if open { " open=\"open\"" } else { "" },
        escape(summary),
        escape(&text)
    )
}

/// A list of links to the files (or directories) of `dir` that exist, each with what it holds.
pub fn files_list(dir: &Path, files: &[(&str, &str)]) -> String {
    let mut s = String::from("<ul class=\"files\">\n");
    for (name, what) in files {
        if dir.join(name.trim_end_matches('/')).exists() {
            let _ = writeln!(
                s,
                "<li><a href=\"{}\"><code>{}</code></a> — {}</li>",
                href(Path::new(name)),
                escape(name),
                escape(what)
            );
        }
    }
    s.push_str("</ul>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(fmt_value("deferred.offered", 12345.4), "12,345");
        assert_eq!(fmt_value("deferred.offered", 4.56789), "4.57");
        assert_eq!(fmt_value("deferred.dropped_overflow/deferred.offered", 0.01234), "1.23%");
        assert_eq!(fmt_value("servers.pf1.utilisation", 0.5), "50%");
        assert_eq!(fmt_value("delivery.latency_s.p95", 90.0), "1.5m");
        assert_eq!(fmt_value("delivery.latency_s.count", 90.0), "90");
        assert_eq!(fmt_value("store.bytes.peak", 1536.0), "1.5 KiB");
        assert_eq!(fmt_value("x", f64::NAN), "-");
        assert_eq!(fmt_rel(-0.899), "-89.9%");
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(href(Path::new("charts/03-a--per-session-20.png")), "charts/03-a--per-session-20.png");
        assert_eq!(href(Path::new("runs/a b#c")), "runs/a%20b%23c");
    }
}
