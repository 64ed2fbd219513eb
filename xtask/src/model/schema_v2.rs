//! Reading a version-2 report: its results carried their ending as
//! flattened fields and a reason in words; version 3 carries the facts
//! (`execution`). The upgrade rebuilds what the old fields hold and no more:
//! a v2 reason that only a sentence held (which tests failed, by how much a
//! measure regressed) stays in `reason`, and the facts it had no field for
//! are left out.

use serde_json::{json, Map, Value};

/// Turns a version-2 report into a version-3 one, in place.
pub fn upgrade(report: &mut Value) {
    report["schema_version"] = json!(3);
    if let Some(results) = report.get_mut("results").and_then(Value::as_array_mut) {
        for result in results.iter_mut().filter_map(Value::as_object_mut) {
            upgrade_result(result);
        }
    }
    if let Some(options) = report.pointer_mut("/run/options").and_then(Value::as_object_mut) {
        // v2 wrote every option as a string; v3 types them (lists as lists,
        // numbers as numbers). Unknown v2 options are dropped.
        let typed: Map<String, Value> = options
            .iter()
            .filter_map(|(key, value)| {
                typed_option(key, value.as_str().unwrap_or_default()).map(|v| (key.clone(), v))
            })
            .collect();
        *options = typed;
    }
}

fn typed_option(key: &str, value: &str) -> Option<Value> {
    let list = || json!(value.split(',').filter(|v| !v.is_empty()).collect::<Vec<_>>());
    let number = || value.parse::<u64>().map_or(json!(value), |n| json!(n));
    Some(match key {
        "python-malloc" | "python" | "skip" => list(),
        "timeout" | "repeat" | "retries" => number(),
        "memory" if value == "none" => Value::Null,
        "memory" => number(),
        "test-dir" | "network" | "base-image" | "flaky-result" | "baseline" | "gate" => json!(value),
        _ => return None,
    })
}

fn upgrade_result(result: &mut Map<String, Value>) {
    let status = result.get("status").and_then(Value::as_str).unwrap_or("fail").to_string();
    let ending = execution(&status, result);
    let tally = match status.as_str() {
        "pass" => "passed",
        "skip" => "skipped",
        _ => "failed",
    };
    result.entry("counted_as").or_insert(json!(tally));
    result.insert("execution".into(), ending);
    result.entry("started_at").or_insert(json!("1970-01-01T00:00:00.000Z"));
    result.entry("tests_truncated").or_insert(json!(false));
    result.entry("harness_error").or_insert(Value::Null);
    for key in [
        "container_peak_bytes",
        "memory_limit_bytes",
        "memray",
        "harness",
        "test_counts",
        "test_counts_from",
        "hunt_leaks",
    ] {
        result.entry(key).or_insert(Value::Null);
    }
    result.entry("tests").or_insert(json!([]));
    if let Some(attempts) = result.get_mut("attempts").and_then(Value::as_array_mut) {
        for attempt in attempts.iter_mut().filter_map(Value::as_object_mut) {
            let status = attempt.get("status").and_then(Value::as_str).unwrap_or("fail").to_string();
            let ending = execution(&status, attempt);
            attempt.insert("execution".into(), ending);
            attempt.entry("started_at").or_insert(json!("1970-01-01T00:00:00.000Z"));
            for key in ["container_peak_bytes", "memory_limit_bytes"] {
                attempt.entry(key).or_insert(Value::Null);
            }
        }
    }
    result.remove("timeout_s");
    result.remove("max_peak_rss_bytes");
}

/// The v3 `execution` of a v2 record's flattened facts.
fn execution(status: &str, record: &Map<String, Value>) -> Value {
    let number = |key: &str| record.get(key).and_then(Value::as_u64);
    let duration = record.get("duration_s").and_then(Value::as_f64).unwrap_or(0.0);
    match status {
        "pass" => json!({"ending": "passed"}),
        "skip" => json!({"ending": "skipped"}),
        "timeout" => {
            json!({"ending": "timed-out", "after_secs": number("timeout_s").unwrap_or(duration as u64)})
        }
        "oom" => {
            json!({"ending": "oom-killed", "container_peak": number("container_peak_bytes"), "process_peak": number("peak_rss_bytes")})
        }
        "crash" => json!({"ending": "crashed", "signal": number("signal").unwrap_or(9)}),
        "leak" => {
            let hunt = record.get("hunt_leaks").cloned().unwrap_or_else(
                || json!({"warmups": 0, "runs": 0, "debug_build": false, "refs": null, "blocks": [], "fds": []}),
            );
            json!({"ending": "leaked", "hunt": hunt})
        }
        "over-budget" => {
            json!({"ending": "over-budget", "peak_bytes": number("peak_rss_bytes").unwrap_or(0), "budget_bytes": number("max_peak_rss_bytes").unwrap_or(0)})
        }
        "regressed" => json!({"ending": "regressed", "measures": []}),
        "flaky" => {
            let attempts = record.get("attempts").and_then(Value::as_array).cloned().unwrap_or_default();
            let passed = attempts.iter().filter(|a| a["status"] == "pass").count();
            let first = attempts.iter().find(|a| !matches!(a["status"].as_str(), Some("pass" | "skip")));
            let (attempt, ending) = first.map_or((1, json!({"ending": "failed", "exit_code": 1})), |a| {
                let status = a["status"].as_str().unwrap_or("fail").to_string();
                (a["attempt"].as_u64().unwrap_or(1), execution(&status, a.as_object().unwrap_or(&Map::new())))
            });
            json!({
                "ending": "flaky",
                "passed": passed,
                "attempts": attempts.len(),
                "first_failure": {"attempt": attempt, "execution": ending},
                "tolerated": record.get("counted_as").and_then(Value::as_str) == Some("passed"),
            })
        }
        _ => {
            json!({"ending": "failed", "exit_code": record.get("exit_code").and_then(Value::as_i64).unwrap_or(1)})
        }
    }
}
