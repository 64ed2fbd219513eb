//! Several attempts of one job (`--repeat`, `--retries`), each in its own
//! fresh container, made into one result: the median of each measure and
//! their range, the worst status, and `flaky` for a mix of pass and fail.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::job::Job;
use crate::model::measure::MeasureId;
use crate::model::result::{Attempt, ModuleResult};
use crate::model::status::{AttemptEnding, Execution, Status, Tally};

/// The lowest and highest value of a measure over the attempts that count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// One result from every attempt of a job. Its status is the worst of the
/// attempts, except that a mix of pass and failure is `flaky` (counted as
/// passed when `tolerate_flaky`); its measures are the medians over the
/// attempts that ran to their end (over all when none did); its output is
/// that of the attempt its status comes from (the first failure of a flaky
/// job, the last pass of a passing one).
pub fn combine(job: Job, attempts: Vec<Attempt>, tolerate_flaky: bool) -> ModuleResult {
    assert!(!attempts.is_empty(), "a job ran at least once");
    let failures: Vec<&Attempt> = attempts.iter().filter(|a| a.execution.tally() == Tally::Failed).collect();
    let passes = attempts.iter().filter(|a| a.execution.status() == Status::Pass).count();
    let (execution, shown) = if attempts.len() == 1 {
        (attempts[0].execution.clone(), &attempts[0])
    } else if passes > 0 && !failures.is_empty() {
        let first = failures[0];
        let execution = Execution::Flaky {
            passed: passes,
            attempts: attempts.len(),
            first_failure: Box::new(AttemptEnding {
                attempt: first.number,
                execution: first.execution.clone(),
            }),
            tolerated: tolerate_flaky,
        };
        (execution, first)
    } else {
        // The worst attempt; among equals the last (a retried job's final word:
        // `max_by_key` returns the last of equal maxima).
        let worst = attempts.iter().max_by_key(|a| a.execution.status().severity()).expect("not empty");
        (worst.execution.clone(), worst)
    };
    let counted = measured(&attempts);
    let duration = median(counted.iter().map(|a| a.duration.as_secs_f64()).collect());
    let peak = median(counted.iter().filter_map(|a| a.peak_rss_bytes).map(|b| b as f64).collect());
    let container_peak =
        median(counted.iter().filter_map(|a| a.container_peak_bytes).map(|b| b as f64).collect());
    ModuleResult {
        job,
        duration: duration.map_or(shown.duration, Duration::from_secs_f64),
        peak_rss_bytes: peak.map(|p| p.round() as u64),
        container_peak_bytes: container_peak.map(|p| p.round() as u64),
        stdout: shown.stdout.clone(),
        stderr: shown.stderr.clone(),
        inner: shown.inner.clone(),
        memray: shown.memray.clone(),
        memory_series: shown.memory_series.clone(),
        started_at: attempts[0].started_at,
        memory_limit_bytes: shown.memory_limit_bytes,
        execution,
        baseline: None,
        attempts: if attempts.len() > 1 { attempts } else { Vec::new() },
    }
}

/// The attempts whose measures count: those that ran to their end, or all
/// when none did (a timeout's duration or a crash's peak says little).
pub fn measured(attempts: &[Attempt]) -> Vec<&Attempt> {
    let whole: Vec<&Attempt> = attempts.iter().filter(|a| a.execution.status().ran_to_its_end()).collect();
    if whole.is_empty() {
        attempts.iter().collect()
    } else {
        whole
    }
}

/// The median of measurements that exist (a benchmark's rounds): 0 for none.
pub fn median_of(values: &[f64]) -> f64 {
    median(values.to_vec()).unwrap_or(0.0)
}

/// The middle value; the mean of the two middle ones for an even count.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 })
}

/// The range of peak RSS and duration over the attempts that count, keyed
/// by the measure each median is; empty for a job that ran once.
pub fn spread(attempts: &[Attempt]) -> BTreeMap<MeasureId, Range> {
    let counted = measured(attempts);
    let mut spread = BTreeMap::new();
    if attempts.len() < 2 {
        return spread;
    }
    let ranges = [
        (
            MeasureId::Rss,
            counted.iter().filter_map(|a| a.peak_rss_bytes.map(|b| b as f64)).collect::<Vec<_>>(),
        ),
        (MeasureId::Duration, counted.iter().map(|a| a.duration.as_secs_f64()).collect()),
    ];
    for (field, values) in ranges {
        if let (Some(min), Some(max)) =
            (values.iter().copied().reduce(f64::min), values.iter().copied().reduce(f64::max))
        {
            spread.insert(field, Range { min, max });
        }
    }
    spread
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::captured::Captured;
    use crate::model::job::Variant;

    fn job() -> Job {
        Job { index: 0, module: "test_a.py".into(), variant: Variant::default(), image: "i".into() }
    }

    fn attempt(number: usize, execution: Execution, peak_mib: u64, secs: f64) -> Attempt {
        Attempt {
            memory_limit_bytes: None,
            started_at: std::time::UNIX_EPOCH,
            container_peak_bytes: None,
            inner: None,
            memray: None,
            memory_series: Some(crate::model::series::MemorySeries {
                t_ms: vec![number as u32],
                rss_bytes: vec![peak_mib << 20],
                cgroup_bytes: vec![None],
            }),
            number,
            execution,
            duration: Duration::from_secs_f64(secs),
            peak_rss_bytes: Some(peak_mib << 20),
            stdout: Captured::from_text(&format!("attempt {number}\n")),
            stderr: Captured::default(),
        }
    }

    fn failed() -> Execution {
        Execution::Failed { exit_code: 1, why: None }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn repeats_give_the_median_and_the_range() {
        let attempts = vec![
            attempt(1, Execution::Passed, 30, 1.0),
            attempt(2, Execution::Passed, 10, 3.0),
            attempt(3, Execution::Passed, 20, 2.0),
        ];
        let result = combine(job(), attempts.clone(), false);
        assert_eq!(result.status(), Status::Pass);
        assert_eq!(result.peak_rss_bytes, Some(20 << 20));
        assert_eq!(result.duration, Duration::from_secs(2));
        assert_eq!(result.attempts.len(), 3);
        let spread = spread(&result.attempts);
        assert_eq!(spread[&MeasureId::Rss], Range { min: (10u64 << 20) as f64, max: (30u64 << 20) as f64 });
        assert_eq!(spread[&MeasureId::Duration], Range { min: 1.0, max: 3.0 });
        assert_eq!(
            crate::report::words::attempts(&attempts),
            "3 attempts: pass, pass, pass; peak RSS 10.0 MiB–30.0 MiB; duration 1.00 s–3.00 s"
        );
    }

    #[test]
    fn a_mix_of_pass_and_failure_is_flaky_and_shows_the_failure() {
        let attempts = vec![attempt(1, failed(), 50, 1.0), attempt(2, Execution::Passed, 10, 1.0)];
        let result = combine(job(), attempts.clone(), false);
        assert_eq!(result.status(), Status::Flaky);
        assert_eq!(result.tally(), Tally::Failed);
        let Execution::Flaky { first_failure, .. } = &result.execution else {
            panic!("{:?}", result.execution)
        };
        assert_eq!((first_failure.attempt, first_failure.execution.clone()), (1, failed()));
        assert_eq!(result.stdout.text(), "attempt 1\n", "the failing attempt's output");
        let series = result.memory_series.as_ref().expect("the shown attempt's series");
        assert_eq!(series.t_ms, [1], "the series of the attempt whose output is shown");
        assert_eq!(result.peak_rss_bytes, Some(10 << 20), "measures of the pass only");
        assert_eq!(combine(job(), attempts, true).tally(), Tally::Passed);
    }

    #[test]
    fn all_failures_give_the_worst() {
        let attempts = vec![
            attempt(1, failed(), 10, 1.0),
            attempt(2, Execution::Crashed { signal: 11 }, 10, 1.0),
            attempt(3, failed(), 10, 1.0),
        ];
        assert_eq!(combine(job(), attempts, false).status(), Status::Crash);
        let both_failed = vec![attempt(1, failed(), 10, 1.0), attempt(2, failed(), 10, 1.0)];
        assert_eq!(combine(job(), both_failed, false).stdout.text(), "attempt 2\n", "the last word");
    }

    #[test]
    fn one_attempt_is_the_result_as_it_was() {
        let result = combine(job(), vec![attempt(1, failed(), 10, 1.5)], false);
        assert_eq!((result.status(), result.attempts.len()), (Status::Fail, 0));
        assert_eq!(result.duration, Duration::from_secs_f64(1.5));
        assert!(spread(&result.attempts).is_empty());
    }

    #[test]
    fn only_failures_are_retried() {
        assert!(attempt(1, failed(), 1, 1.0).wants_retry());
        assert!(!attempt(1, Execution::Passed, 1, 1.0).wants_retry());
        assert!(!attempt(1, Execution::Skipped { why: None }, 1, 1.0).wants_retry());
    }
}
