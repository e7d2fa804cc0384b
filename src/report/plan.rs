//! The report of a plan directory (plan.json): the answer and what fails just below it, every
//! candidate with each target's interval, the charts and the model.

use super::page::{self, escape, fmt_value};
use super::{read, written_at};
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// `path = value, path = value`, from an object of searched paths.
fn values_text(v: &Value) -> String {
    v.as_object().into_iter().flatten().map(|(k, x)| format!("{k} = {x}")).collect::<Vec<_>>().join(", ")
}

/// The targets a candidate does not meet, in words.
fn failing(c: &Value) -> Vec<String> {
    c["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["verdict"] != "met")
        .map(|t| {
            let metric = t["metric"].as_str().unwrap_or_default();
            format!(
                "{} {} {} {}",
                if t["verdict"] == "missed" { "misses" } else { "cannot decide" },
                metric,
                if t["bound"] == "min" { ">=" } else { "<=" },
                fmt_value(metric, t["threshold"].as_f64().unwrap_or(f64::NAN))
            )
        })
        .collect()
}

fn candidates_table(plan: &Value, paths: &[String]) -> String {
    let mut cands: Vec<&Value> = plan["candidates"].as_array().into_iter().flatten().collect();
    let key = |c: &Value| paths.iter().map(|p| c["values"][p].as_i64().unwrap_or(0)).collect::<Vec<_>>();
    cands.sort_by_key(|c| key(c));
    let targets: Vec<&Value> =
        cands.first().and_then(|c| c["targets"].as_array()).map(|t| t.iter().collect()).unwrap_or_default();
    let mut s = String::from("<div class=\"scroll\"><table><thead><tr>");
    for p in paths {
        let _ = write!(s, "<th class=\"num\"><code>{}</code></th>", page::breakable(p));
    }
    s.push_str("<th class=\"num\">cost</th><th class=\"num\">runs</th><th>verdict</th>");
    for t in &targets {
        let metric = t["metric"].as_str().unwrap_or_default();
        let _ = write!(
            s,
            "<th class=\"num\"><code>{}</code><br/>{} {}</th>",
            page::breakable(metric),
            if t["bound"] == "min" { "≥" } else { "≤" },
            escape(&fmt_value(metric, t["threshold"].as_f64().unwrap_or(f64::NAN)))
        );
    }
    s.push_str("</tr></thead><tbody>\n");
    for c in cands {
        let class = if c["values"] == plan["answer"] {
            " class=\"pick\""
        } else if c["values"] == plan["below"] {
            " class=\"base\""
        } else {
            ""
        };
        let _ = write!(s, "<tr{class}>");
        for p in paths {
            let _ = write!(s, "<td class=\"num\">{}</td>", c["values"][p]);
        }
        let verdict = c["verdict"].as_str().unwrap_or("?");
        let vclass = match verdict {
            "feasible" => "ok",
            "infeasible" => "bad",
            _ => "undecided",
        };
        let _ = write!(
            s,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{vclass}\">{}</td>",
            escape(&fmt_value("n", c["cost"].as_f64().unwrap_or(f64::NAN))),
            c["replications"],
            escape(verdict)
        );
        for t in c["targets"].as_array().into_iter().flatten() {
            let m = t["metric"].as_str().unwrap_or_default();
            let f = |k: &str| escape(&fmt_value(m, t[k].as_f64().unwrap_or(f64::NAN)));
            let tclass = match t["verdict"].as_str() {
                Some("met") => "ok",
                Some("missed") => "bad",
                _ => "undecided",
            };
            let _ = write!(
                s,
                "<td class=\"num {tclass}\">{} <span class=\"pm\">({} to {})</span></td>",
                f("mean"),
                f("ci_low"),
                f("ci_high")
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

pub fn page(dir: &Path) -> Result<String, String> {
    let plan_path = dir.join("plan.json");
    let plan = read(&plan_path)?;
    let spec = &plan["plan"];
    let name = spec["name"].as_str().unwrap_or("plan");
    let paths: Vec<String> = spec["search"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["path"].as_str().map(str::to_string))
        .collect();
    let confidence = plan["confidence"].as_f64().unwrap_or(0.95) * 100.0;
    let mut header = format!("<h1>{} <span class=\"meta\">capacity plan</span></h1>\n", escape(name));
    if let Some(d) = spec["description"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(header, "<p class=\"lead\">{}</p>", escape(d));
    }
    let _ = writeln!(
        header,
        "<p class=\"meta\">Searched {} over model <code>{}</code>; {} candidates, {} runs; confidence {}%; seed {}; ddsim {}{}.</p>",
        escape(&paths.join(" and ")),
        escape(spec["model"].as_str().unwrap_or("?")),
        plan["candidates"].as_array().map(Vec::len).unwrap_or(0),
        plan["runs"],
        escape(&fmt_value("n", confidence)),
        spec["seed"],
        escape(plan["ddsim_version"].as_str().unwrap_or("?")),
        written_at(&plan_path).map(|w| format!(", written {w}")).unwrap_or_default()
    );

    let cands: Vec<&Value> = plan["candidates"].as_array().into_iter().flatten().collect();
    let find = |values: &Value| cands.iter().find(|c| c["values"] == *values).copied();
    let mut answer = String::from("<div class=\"answer\">");
    match find(&plan["answer"]) {
        Some(c) => {
            let _ = writeln!(
                answer,
                "<p class=\"big\">{} meets every target</p>\n<p>over {} replications, each target's {}% interval on the right side of its threshold.",
                escape(&values_text(&plan["answer"])),
                c["replications"],
                escape(&fmt_value("n", confidence))
            );
            if let Some(b) = find(&plan["below"]) {
                let _ = write!(
                    answer,
                    " At {} the plan {}.",
                    escape(&values_text(&plan["below"])),
                    escape(&failing(b).join(" and "))
                );
            }
            answer.push_str("</p>\n");
        }
        None => {
            let at_max = find(&plan["at_max"]);
            let _ = writeln!(
                answer,
                "<p class=\"big\">No value within the bounds meets the targets</p>\n<p>At the most capacity tried ({}) the plan {}.</p>",
                escape(&values_text(&plan["at_max"])),
                escape(&at_max.map(failing).unwrap_or_default().join(" and "))
            );
        }
    }
    for c in plan["contradictions"].as_array().into_iter().flatten() {
        let _ =
            writeln!(answer, "<p class=\"bad\">Against monotonicity: {}</p>", escape(c.as_str().unwrap_or_default()));
    }
    answer.push_str("</div>\n");
    if paths.len() == 2 && plan["frontier"].as_array().is_some_and(|f| !f.is_empty()) {
        let _ = write!(
            answer,
            "<h3>Frontier</h3>\n<table><thead><tr><th class=\"num\"><code>{}</code></th><th class=\"num\">smallest feasible <code>{}</code></th></tr></thead><tbody>\n",
            escape(&paths[0]),
            escape(&paths[1])
        );
        for p in plan["frontier"].as_array().into_iter().flatten() {
            let second = match &p[&paths[1]] {
                Value::Null => "none".to_string(),
                v => v.to_string(),
            };
            let _ = writeln!(
                answer,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}{}</td></tr>",
                p[&paths[0]],
                escape(&second),
                if p["inferred"] == true { " (inferred)" } else { "" }
            );
        }
        answer.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        answer,
        "<h3>Every candidate</h3>\n<p class=\"meta\">Each target's mean over the candidate's replications and its {}% interval; green: met, red: missed, amber: undecided. The answer is highlighted green, the candidate just below it yellow.</p>",
        escape(&fmt_value("n", confidence))
    );
    answer.push_str(&candidates_table(&plan, &paths));

    // The model of the answer's (or the first candidate's) first run, and the plan file.
    let shown = find(&plan["answer"]).or(cands.first().copied());
    let mut model = String::new();
    if let Some(c) = shown {
        let id = c["id"].as_str().unwrap_or_default();
        if let Ok(doc) = read(&dir.join("runs").join(format!("{id}-r0")).join("results.json")) {
            model.push_str(&page::json_details(&format!("The resolved model of candidate {id}"), &doc["model"], false));
        }
    }
    model.push_str(&page::json_details("The plan file, as run", spec, false));
    let files = page::files_list(
        dir,
        &[
            ("plan.json", "the answer, the frontier and every candidate with each target's statistics"),
            ("plan.csv", "one row per candidate and target"),
            ("manifest.json", "the plan and its hash"),
            ("runs/", "one directory per run: results.json with every metric"),
            ("charts/", "every chart as SVG and PNG"),
        ],
    );
    Ok(page::document(
        &format!("{name}: ddsim plan report"),
        &header,
        &[
            ("summary", "Answer", answer),
            ("charts", "Charts", page::gallery(dir)),
            ("model", "What was run", model),
            ("files", "Files", files),
        ],
    ))
}
