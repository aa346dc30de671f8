//! `eval --report FILE.html`: an evaluation as one page to look at. Self-
//! contained — its style inline, its charts inline SVG, no script, nothing
//! fetched from anywhere: nDCG@10 / MRR@10 / Recall@k per system as bars,
//! Recall@k curves, the best scores of related and unrelated questions as
//! histograms with the threshold drawn, the engine's worst queries, and the
//! run's settings.

use std::fmt::Write;

use super::{EvalReport, SystemReport};

/// Colours of the systems, in order (Okabe–Ito, readable by colour-blind
/// readers), then grey.
const COLOURS: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7a6a00", "#000000",
];

/// The page for `report`; `title` names the run (the set, the model).
pub fn html(report: &EvalReport, title: &str) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let systems: Vec<(&String, &SystemReport)> = order(report);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(title)
    );
    let _ = write!(
        page,
        "<h1>{}</h1>\n<p class=\"dim\">{} queries · {} corpus entries · evaluated in {:.1} s</p>\n",
        esc(title),
        report.queries,
        report.corpus,
        report.seconds
    );
    page.push_str("<h2>Quality per system</h2>\n<div class=\"grid\">\n");
    for (metric, get) in METRICS {
        let values: Vec<(&str, f64)> = systems.iter().map(|(n, s)| (n.as_str(), get(s))).collect();
        page.push_str(&bars(metric, &values));
    }
    page.push_str("</div>\n");
    page.push_str(&systems_table(&systems));
    page.push_str("<h2>Recall@k</h2>\n");
    page.push_str(&curves(&systems));
    page.push_str("<h2>Best scores: related and unrelated questions</h2>\n");
    page.push_str(&histograms(report));
    page.push_str("<h2>The engine's worst queries</h2>\n");
    page.push_str(&worst_table(report));
    page.push_str("<h2>Settings</h2>\n<table class=\"settings\">\n");
    for (name, value) in &report.details.settings {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(name),
            esc(value)
        );
    }
    page.push_str("</table>\n</main>\n</body>\n</html>\n");
    page
}

const STYLE: &str = "body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1b1f24;background:#fff}\
main{max-width:70rem;margin:0 auto;padding:1rem 1.5rem}h1{font-size:1.4rem;margin:.5rem 0 0}\
h2{font-size:1.1rem;margin:1.6rem 0 .5rem}.dim{color:#5b6470}\
.grid{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-weight:600;font-size:.9rem}\
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}th,td{border-bottom:1px solid #d6dae0;\
padding:.3rem .6rem;text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.miss{color:#b00020}.hit{color:#00704a}svg text{font:11px system-ui,sans-serif;fill:#1b1f24}\
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}\
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}";

type Metric = (&'static str, fn(&SystemReport) -> f64);

const METRICS: [Metric; 5] = [
    ("nDCG@10", |s| s.ndcg_10),
    ("MRR@10", |s| s.mrr_10),
    ("Recall@1", |s| s.recall_1),
    ("Recall@5", |s| s.recall_5),
    ("Recall@10", |s| s.recall_10),
];

/// The engine first, then its views and the baselines, each by name.
fn order(report: &EvalReport) -> Vec<(&String, &SystemReport)> {
    let mut systems: Vec<_> = report.systems.iter().collect();
    systems.sort_by_key(|(name, _)| (name.as_str() != "engine", name.contains('@'), name.as_str()));
    systems
}

fn colour(i: usize) -> &'static str {
    COLOURS.get(i).copied().unwrap_or("#888888")
}

/// Horizontal bars of one metric, a bar per system.
fn bars(metric: &str, values: &[(&str, f64)]) -> String {
    let (label_w, bar_w, row) = (110.0, 200.0, 18.0);
    let height = row * values.len() as f64 + 8.0;
    let mut svg = format!(
        "<figure><figcaption>{metric}</figcaption><svg width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{metric} per system\">",
        label_w + bar_w + 50.0
    );
    for (i, (name, v)) in values.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let w = (v.clamp(0.0, 1.0) * bar_w).max(0.5);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{} {metric} {v:.4}</title></rect>\
             <text x=\"{}\" y=\"{}\">{v:.3}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(name),
            row - 4.0,
            colour(i),
            esc(name),
            label_w + w + 4.0,
            y + 12.0
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

fn systems_table(systems: &[(&String, &SystemReport)]) -> String {
    let mut t = String::from(
        "<table><tr><th>system</th><th>nDCG@10</th><th>MRR@10</th><th>R@1</th><th>R@5</th>\
         <th>R@10</th><th>p50 ms</th><th>p95 ms</th></tr>\n",
    );
    for (name, s) in systems {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.3}</td>\
             <td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td></tr>",
            esc(name),
            s.ndcg_10,
            s.mrr_10,
            s.recall_1,
            s.recall_5,
            s.recall_10,
            s.p50_ms,
            s.p95_ms
        );
    }
    t.push_str("</table>\n");
    t
}

/// Recall@k for k = 1..10, a line per system, with a legend.
fn curves(systems: &[(&String, &SystemReport)]) -> String {
    let (w, h, left, bottom, top) = (560.0, 260.0, 40.0, 30.0, 10.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - bottom - top;
    let lowest = systems
        .iter()
        .flat_map(|(_, s)| s.recall_curve.first().copied())
        .fold(1.0_f64, f64::min);
    // The y axis starts at a tenth below the lowest Recall@1.
    let y0 = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let x = |k: usize| left + (k as f64 - 1.0) / 9.0 * plot_w;
    let y = |r: f64| top + (1.0 - (r - y0) / (1.0 - y0)) * plot_h;
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Recall at k, k from 1 to 10, per system\">"
    );
    for tick in 0..=5 {
        let r = y0 + (1.0 - y0) * tick as f64 / 5.0;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e6ea\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{r:.2}</text>",
            left + plot_w,
            left - 4.0,
            y(r) + 4.0,
            yy = y(r)
        );
    }
    for k in 1..=10 {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{k}</text>",
            x(k),
            h - bottom + 16.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">k</text>",
        left + plot_w / 2.0,
        h - 2.0
    );
    let mut legend = String::from("<p class=\"legend\">");
    for (i, (name, s)) in systems.iter().enumerate() {
        if s.recall_curve.is_empty() {
            continue;
        }
        let points: Vec<String> = s
            .recall_curve
            .iter()
            .enumerate()
            .map(|(k, r)| format!("{:.1},{:.1}", x(k + 1), y(*r)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            colour(i),
            points.join(" "),
            esc(name)
        );
        let _ = write!(
            legend,
            "<span><i style=\"background:{}\"></i>{}</span>",
            colour(i),
            esc(name)
        );
    }
    svg.push_str("</svg>");
    legend.push_str("</p>\n");
    format!("{svg}\n{legend}")
}

/// Histograms of the best scores (0–1 in 20 bins) of related and unrelated
/// questions, the threshold as a line.
fn histograms(report: &EvalReport) -> String {
    let d = &report.details;
    let threshold = report.abstention.min_score as f64;
    let bins = 20;
    let count = |scores: &[f32]| {
        let mut c = vec![0usize; bins];
        for s in scores {
            let b = ((*s as f64).clamp(0.0, 1.0) * bins as f64) as usize;
            c[b.min(bins - 1)] += 1;
        }
        c
    };
    let (related, unrelated) = (count(&d.related_best), count(&d.unrelated_best));
    // Each as a share of its own questions: sets of different sizes compare.
    let share = |c: &[usize], n: usize| -> Vec<f64> {
        c.iter().map(|&x| x as f64 / n.max(1) as f64).collect()
    };
    let (related, unrelated) = (
        share(&related, d.related_best.len()),
        share(&unrelated, d.unrelated_best.len()),
    );
    let top = related
        .iter()
        .chain(&unrelated)
        .fold(0.01_f64, |a, &b| a.max(b));
    let (w, h, left, bottom, top_pad) = (560.0, 220.0, 40.0, 30.0, 10.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - bottom - top_pad;
    let bin_w = plot_w / bins as f64;
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Histograms of the best score of related and unrelated questions, with the threshold\">"
    );
    for (series, (shares, fill)) in [(&related, "#0072b2"), (&unrelated, "#d55e00")]
        .into_iter()
        .enumerate()
    {
        for (b, s) in shares.iter().enumerate() {
            if *s == 0.0 {
                continue;
            }
            let bh = s / top * plot_h;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{fill}\" fill-opacity=\"0.6\">\
                 <title>{} {:.2}–{:.2}: {:.1}%</title></rect>",
                left + b as f64 * bin_w + series as f64 * bin_w / 2.0,
                top_pad + plot_h - bh,
                bin_w / 2.0,
                if series == 0 { "related" } else { "unrelated" },
                b as f64 / bins as f64,
                (b + 1) as f64 / bins as f64,
                s * 100.0
            );
        }
    }
    for tick in 0..=5 {
        let v = tick as f64 / 5.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{v:.1}</text>",
            left + v * plot_w,
            h - bottom + 16.0
        );
    }
    let tx = left + threshold.clamp(0.0, 1.0) * plot_w;
    let _ = write!(
        svg,
        "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{top_pad}\" y2=\"{}\" stroke=\"#1b1f24\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>\
         <text x=\"{:.1}\" y=\"{}\">threshold {threshold:.3}</text>\
         <line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#8a929c\"/></svg>",
        top_pad + plot_h,
        tx + 4.0,
        top_pad + 10.0,
        left + plot_w,
        top_pad + plot_h,
        top_pad + plot_h
    );
    let a = &report.abstention;
    let mut legend = format!(
        "<p class=\"legend\"><span><i style=\"background:#0072b2;opacity:.6\"></i>related: {} questions, {:.1}% answered</span>",
        a.related,
        a.related_answered * 100.0
    );
    if d.unrelated_best.is_empty() {
        legend.push_str("<span>no unrelated questions (eval --unrelated FILE)</span>");
    } else {
        let _ = write!(
            legend,
            "<span><i style=\"background:#d55e00;opacity:.6\"></i>unrelated: {} questions, {:.1}% not answered</span>",
            a.unrelated,
            a.unrelated_abstained * 100.0
        );
    }
    legend.push_str("</p>\n");
    format!("{svg}\n{legend}")
}

fn worst_table(report: &EvalReport) -> String {
    let worst = &report.details.worst;
    if worst.is_empty() {
        return "<p class=\"dim\">None: every query scored nDCG@10 1.</p>\n".into();
    }
    let mut t = String::from(
        "<table><tr><th>nDCG@10</th><th>question</th><th>right answer (rank)</th>\
         <th>first returned</th><th>views on the right answer (raw score, rank)</th></tr>\n",
    );
    for q in worst {
        let rank = q
            .right_rank
            .map_or_else(|| "not found".to_string(), |r| format!("#{r}"));
        let views: Vec<String> = q
            .views
            .iter()
            .map(|(v, s, r)| format!("{} {s:.3} (#{r})", esc(v)))
            .collect();
        let _ = writeln!(
            t,
            "<tr><td class=\"n\">{:.3}</td><td>{}</td><td>{} <span class=\"dim\">({rank})</span></td>\
             <td class=\"{}\">{}</td><td>{}</td></tr>",
            q.ndcg_10,
            esc(&q.question),
            esc(&q.right),
            if q.first_right { "hit" } else { "miss" },
            esc(&q.first),
            if views.is_empty() { "—".to_string() } else { views.join(", ") }
        );
    }
    t.push_str("</table>\n");
    t
}

/// Text for HTML: `& < > " '` escaped, control characters dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Details, QueryDetail};

    fn report() -> EvalReport {
        let mut r = EvalReport {
            dataset: "set".into(),
            queries: 2,
            corpus: 3,
            ..EvalReport::default()
        };
        for (name, n) in [("engine", 0.9), ("bm25", 0.5)] {
            r.systems.insert(
                name.into(),
                SystemReport {
                    ndcg_10: n,
                    recall_curve: vec![n; 10],
                    ..SystemReport::default()
                },
            );
        }
        r.abstention.min_score = 0.375;
        r.details = Details {
            related_best: vec![0.6, 0.7],
            unrelated_best: vec![0.1],
            worst: vec![QueryDetail {
                question: "<script>alert(1)</script> & 'x'".into(),
                right: "R".into(),
                first: "F".into(),
                ..QueryDetail::default()
            }],
            settings: vec![("model".into(), "m".into())],
        };
        r
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_it_quotes() {
        let page = html(&report(), "set <b>");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;x&#39;"));
        assert!(!page.contains("<script"));
        assert!(page.contains("<title>set &lt;b&gt;</title>"));
        // Nothing fetched: no address anywhere.
        assert!(!page.contains("http") && !page.contains("src="), "{page}");
        // Bars for five metrics, a curve per system, the threshold drawn.
        assert_eq!(page.matches("<figure>").count(), 5);
        assert_eq!(page.matches("<polyline").count(), 2);
        assert!(page.contains("threshold 0.375"));
        // The engine first.
        assert!(page.find(">engine<").unwrap() < page.find(">bm25<").unwrap());
    }
}
