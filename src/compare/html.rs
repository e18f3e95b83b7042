//! `CompareReport::to_html`: the report as one self-contained page (inline style, no
//! script, no external asset), for an admin endpoint or a file attached to a ticket.

use std::fmt::Write;

use super::example::Example;
use super::report::{CompareReport, FieldReport, RouteReport};

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1d1d1f; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 13px ui-monospace, monospace; } h2 code { font-size: 1em; }
pre { background: #f7f7f9; padding: .5em; margin: .2em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.bar { display: inline-block; width: 8em; height: .7em; background: #eee; margin-right: .5em; }
.bar span { display: block; height: 100%; background: #d9534f; }
tr.noise td { color: #777; } .noise .bar span { background: #aaa; }
.sides { display: flex; gap: 1em; } .sides div { flex: 1; min-width: 0; }
details { margin: .3em 0 .8em; } summary { cursor: pointer; }
.example { border-left: 3px solid #ddd; padding-left: .8em; margin: .5em 0; }
";

impl CompareReport {
    /// The report as one HTML page, self-contained (inline style, no script, nothing
    /// loaded from elsewhere): totals and skip reasons, the routes ranked by differing
    /// rate, and for each route its fields with rates, noise rates and examples. Every
    /// value is HTML-escaped.
    ///
    /// ```
    /// # #[cfg(feature = "compare")]
    /// # fn save(handle: &tower_mirror::MirrorHandle) -> std::io::Result<()> {
    /// std::fs::write("compare-report.html", handle.compare_report().to_html())
    /// # }
    /// ```
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str("<title>tower-mirror compare report</title>\n<style>");
        out.push_str(STYLE);
        out.push_str("</style>\n</head>\n<body>\n<h1>Compare report</h1>\n");
        let _ = writeln!(
            out,
            "<p>{} compared: {} matched, {} differed ({}), {} skipped.</p>",
            self.compared,
            self.matched,
            self.differed,
            percent(self.differed, self.compared),
            self.skipped
        );
        self.skips(&mut out);
        self.route_index(&mut out);
        for (i, route) in self.routes.iter().enumerate() {
            route_section(&mut out, i, route);
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    fn skips(&self, out: &mut String) {
        if self.skip_reasons.is_empty() {
            return;
        }
        out.push_str("<h2>Skipped</h2>\n<table class=\"skips\">\n<thead><tr><th>reason</th><th>copies</th></tr></thead>\n<tbody>\n");
        for (reason, count) in &self.skip_reasons {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{count}</td></tr>",
                escape(reason)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }

    fn route_index(&self, out: &mut String) {
        out.push_str("<h2>Routes</h2>\n");
        if self.routes.is_empty() {
            out.push_str("<p>No comparisons yet.</p>\n");
            return;
        }
        out.push_str("<table class=\"routes\">\n<thead><tr><th>route</th><th>compared</th><th>differed</th><th>rate</th></tr></thead>\n<tbody>\n");
        for (i, r) in self.routes.iter().enumerate() {
            let _ = writeln!(
                out,
                "<tr><td class=\"route\"><a href=\"#route-{i}\"><code>{}</code></a></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&r.route),
                r.compared,
                r.differed,
                bar(r.differed, r.compared)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
}

fn route_section(out: &mut String, i: usize, r: &RouteReport) {
    let _ = writeln!(
        out,
        "<section class=\"route\" id=\"route-{i}\">\n<h2><code>{}</code></h2>",
        escape(&r.route)
    );
    let _ = writeln!(
        out,
        "<p>{} compared: {} matched, {} differed ({}). Noise: two primaries compared {} times.</p>",
        r.compared,
        r.matched,
        r.differed,
        percent(r.differed, r.compared),
        r.noise_compared
    );
    if r.fields.is_empty() {
        out.push_str("<p>No field differed.</p>\n</section>\n");
        return;
    }
    out.push_str("<table class=\"fields\">\n<thead><tr><th>field</th><th>differed</th><th>rate</th><th>noise rate</th></tr></thead>\n<tbody>\n");
    for f in &r.fields {
        let _ = writeln!(
            out,
            "<tr{}><td class=\"field\"><code>{}</code>{}</td><td class=\"num\">{} of {}</td><td>{}</td><td>{}</td></tr>",
            if f.noise { " class=\"noise\"" } else { "" },
            escape(&f.field),
            if f.noise { " (noise)" } else { "" },
            f.differed,
            f.compared,
            bar(f.differed, f.compared),
            bar(f.noise_differed, f.noise_compared)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for f in r.fields.iter().filter(|f| !f.examples.is_empty()) {
        field_examples(out, f);
    }
    out.push_str("</section>\n");
}

fn field_examples(out: &mut String, f: &FieldReport) {
    let _ = writeln!(
        out,
        "<details class=\"examples\"{}>\n<summary>Examples for <code>{}</code> ({})</summary>",
        if f.noise { "" } else { " open" },
        escape(&f.field),
        f.examples.len()
    );
    for example in &f.examples {
        example_block(out, example);
    }
    out.push_str("</details>\n");
}

fn example_block(out: &mut String, e: &Example) {
    let _ = writeln!(
        out,
        "<div class=\"example\">\n<p><code>{}</code></p>",
        escape(&e.request)
    );
    if !e.headers.is_empty() {
        out.push_str("<pre class=\"headers\">");
        for (name, value) in &e.headers {
            let _ = writeln!(out, "{}: {}", escape(name), escape(value));
        }
        out.push_str("</pre>\n");
    }
    if let Some(body) = &e.body {
        let _ = writeln!(out, "<pre class=\"body\">{}</pre>", escape(body));
    }
    out.push_str("<div class=\"sides\">\n");
    for (side, value) in [("primary", &e.primary), ("shadow", &e.shadow)] {
        let shown = value.as_deref().map_or("(absent)".to_owned(), escape);
        let _ = writeln!(
            out,
            "<div><strong>{side}</strong><pre class=\"{side}\">{shown}</pre></div>"
        );
    }
    out.push_str("</div>\n</div>\n");
}

/// A bar as wide as the rate, and the rate as text.
fn bar(part: u64, whole: u64) -> String {
    let width = if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    };
    format!(
        "<span class=\"bar\"><span style=\"width:{width:.1}%\"></span></span>{}",
        percent(part, whole)
    )
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".to_owned();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

/// Text safe in element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than whitespace are parse errors in HTML text.
            c if (c.is_control() && !matches!(c, '\n' | '\t')) || is_noncharacter(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// U+FDD0..U+FDEF and U+xFFFE/U+xFFFF: parse errors in HTML text too.
fn is_noncharacter(c: char) -> bool {
    let c = c as u32;
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\r\u{0}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\\u{d}\\u{0}"
        );
    }

    #[test]
    fn an_empty_report_is_a_page() {
        let html = CompareReport::default().to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("No comparisons yet."));
        assert!(html.ends_with("</html>\n"));
    }
}
