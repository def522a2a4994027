//! Sync windows (an AppProject's `spec.syncWindows`), as ArgoCD evaluates them: a window is
//! active from each time its cron `schedule` fires for `duration`; it applies to the
//! Applications, namespaces or clusters its globs name.
//!
//! - Any applicable active `deny` window blocks syncs.
//! - Applicable `allow` windows block syncs while none of them is active.
//! - A blocked manual sync is let through when the blocking windows say `manualSync: true`.
//!
//! Schedules are standard five-field cron (minute, hour, day of month, month, day of week;
//! `*`, lists, ranges, steps, month and day names, `@hourly`/`@daily`/`@weekly`/`@monthly`/
//! `@yearly`), in `timeZone` (default UTC). Anything else is an error naming the window.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::Value;
use strata_drift::glob::glob_match;

use crate::app::Application;

/// A sync window that cannot be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("syncWindows[{index}]: {problem}")]
#[non_exhaustive]
pub struct WindowError {
    /// The window's index in the project.
    pub index: usize,
    /// What is wrong.
    #[source]
    pub problem: WindowProblem,
}

/// What is wrong with a sync window.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WindowProblem {
    /// `kind` is neither `allow` nor `deny` (the kind given, if any).
    #[error("kind {0:?}: `allow` or `deny` expected")]
    Kind(Option<String>),
    /// `schedule` is missing.
    #[error("schedule is required")]
    MissingSchedule,
    /// `schedule` is not a cron schedule.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// `duration` is missing.
    #[error("duration is required")]
    MissingDuration,
    /// `duration` is not a duration.
    #[error("duration `{0}` is not a duration (e.g. 30m, 1h, 2h30m)")]
    Duration(String),
    /// `duration` is under a minute.
    #[error("duration `{0}` is shorter than a minute")]
    DurationUnderMinute(String),
    /// `timeZone` is not a known time zone.
    #[error("timeZone {name}: {source}")]
    TimeZone {
        /// The time zone given.
        name: String,
        /// Why it is unknown.
        #[source]
        source: jiff::Error,
    },
}

/// A cron schedule that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The schedule has not five fields.
    #[error(
        "schedule `{schedule}`: five fields expected (minute hour day-of-month month day-of-week)"
    )]
    FieldCount {
        /// The schedule as written.
        schedule: String,
    },
    /// One field is wrong.
    #[error("schedule `{schedule}`: {field}: {problem}")]
    Field {
        /// The schedule as written.
        schedule: String,
        /// The field (`minute`, `hour`, `day of month`, `month` or `day of week`).
        field: &'static str,
        /// What is wrong with it.
        #[source]
        problem: FieldError,
    },
}

/// What is wrong with one field of a cron schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A value is neither a number nor a name.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// A step is not a positive number.
    #[error("step `{0}` is not a positive number")]
    Step(String),
    /// A value or range is outside the field's range.
    #[error("`{part}` is outside {min}-{max}")]
    OutOfRange {
        /// The list element.
        part: String,
        /// The field's least value.
        min: u32,
        /// The field's greatest value.
        max: u32,
    },
}

/// One cron field: the allowed values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    allowed: Vec<bool>,
    any: bool,
}

impl Field {
    fn contains(&self, value: i8) -> bool {
        usize::try_from(value)
            .ok()
            .and_then(|v| self.allowed.get(v))
            .copied()
            .unwrap_or(false)
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(text: &str, names: &[&str], offset: u32) -> Result<u32, FieldError> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(u32::try_from(i).unwrap_or(0) + offset);
    }
    text.parse::<u32>()
        .map_err(|_| FieldError::NotANumber(text.to_owned()))
}

fn field(text: &str, min: u32, max: u32, names: &[&str], offset: u32) -> Result<Field, FieldError> {
    let mut allowed = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| FieldError::Step(s.to_owned()))?,
            ),
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset)?, value(b, names, offset)?)
        } else {
            let v = value(range, names, offset)?;
            (v, if part.contains('/') { max } else { v })
        };
        if low < min || high > max || low > high {
            return Err(FieldError::OutOfRange {
                part: part.to_owned(),
                min,
                max,
            });
        }
        let mut v = low;
        while v <= high {
            allowed[v as usize] = true;
            v += step;
        }
    }
    Ok(Field {
        allowed,
        any: text == "*",
    })
}

/// A five-field cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
}

impl Schedule {
    /// Parses a schedule.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(ScheduleError::FieldCount {
                schedule: text.to_owned(),
            });
        };
        let in_field = |name: &'static str, r: Result<Field, FieldError>| {
            r.map_err(|problem| ScheduleError::Field {
                schedule: text.to_owned(),
                field: name,
                problem,
            })
        };
        let mut weekday = in_field("day of week", field(weekday, 0, 7, &DAYS, 0))?;
        if weekday.allowed[7] {
            weekday.allowed[0] = true;
        }
        Ok(Self {
            minute: in_field("minute", field(minute, 0, 59, &[], 0))?,
            hour: in_field("hour", field(hour, 0, 23, &[], 0))?,
            day: in_field("day of month", field(day, 1, 31, &[], 0))?,
            month: in_field("month", field(month, 1, 12, &MONTHS, 1))?,
            weekday,
        })
    }

    /// Whether the schedule fires at `at` (to the minute).
    pub fn fires_at(&self, at: DateTime) -> bool {
        let weekday = at.weekday().to_sunday_zero_offset();
        // Vixie cron: with both day fields restricted, either may match.
        let day = match (self.day.any, self.weekday.any) {
            (false, false) => self.day.contains(at.day()) || self.weekday.contains(weekday),
            _ => self.day.contains(at.day()) && self.weekday.contains(weekday),
        };
        self.minute.contains(at.minute())
            && self.hour.contains(at.hour())
            && self.month.contains(at.month())
            && day
    }
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Syncs only while active.
    Allow,
    /// No syncs while active.
    Deny,
}

/// One sync window.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncWindow {
    /// Allow or deny.
    pub kind: WindowKind,
    schedule: Schedule,
    duration_minutes: i64,
    applications: Vec<String>,
    namespaces: Vec<String>,
    clusters: Vec<String>,
    /// Manual syncs are let through.
    pub manual_sync: bool,
    time_zone: TimeZone,
    /// The schedule as written.
    pub schedule_text: String,
}

fn strings(window: &Value, field: &str) -> Vec<String> {
    window
        .get(field)
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn minutes(duration: &str) -> Result<i64, WindowProblem> {
    let parsed = strata_drift::duration::parse_retry_duration(duration)
        .ok_or_else(|| WindowProblem::Duration(duration.to_owned()))?;
    let minutes = i64::try_from(parsed.as_secs() / 60).unwrap_or(i64::MAX);
    if minutes < 1 {
        return Err(WindowProblem::DurationUnderMinute(duration.to_owned()));
    }
    Ok(minutes)
}

impl SyncWindow {
    /// Reads window `index` of a project.
    pub fn parse(index: usize, window: &Value) -> Result<Self, WindowError> {
        let error = |problem: WindowProblem| WindowError { index, problem };
        let kind = match window.get("kind").and_then(Value::as_str) {
            Some("allow") => WindowKind::Allow,
            Some("deny") => WindowKind::Deny,
            other => return Err(error(WindowProblem::Kind(other.map(str::to_owned)))),
        };
        let schedule_text = window
            .get("schedule")
            .and_then(Value::as_str)
            .ok_or_else(|| error(WindowProblem::MissingSchedule))?
            .to_owned();
        let schedule = Schedule::parse(&schedule_text).map_err(|e| error(e.into()))?;
        let duration = window
            .get("duration")
            .and_then(Value::as_str)
            .ok_or_else(|| error(WindowProblem::MissingDuration))?;
        let duration_minutes = minutes(duration).map_err(error)?;
        let time_zone = match window.get("timeZone").and_then(Value::as_str) {
            None | Some("") | Some("UTC") => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|source| {
                error(WindowProblem::TimeZone {
                    name: name.to_owned(),
                    source,
                })
            })?,
        };
        Ok(Self {
            kind,
            schedule,
            duration_minutes,
            applications: strings(window, "applications"),
            namespaces: strings(window, "namespaces"),
            clusters: strings(window, "clusters"),
            manual_sync: window
                .get("manualSync")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            time_zone,
            schedule_text,
        })
    }

    /// Whether the window concerns `app`.
    pub fn applies_to(&self, app: &Application) -> bool {
        let namespace = app.destination.namespace.as_deref().unwrap_or("");
        let server = app
            .destination
            .server
            .clone()
            .unwrap_or_else(|| crate::app::IN_CLUSTER_SERVER.to_owned());
        let name = app.destination.name.clone().unwrap_or_default();
        self.applications.iter().any(|g| glob_match(g, &app.name))
            || self.namespaces.iter().any(|g| glob_match(g, namespace))
            || self
                .clusters
                .iter()
                .any(|g| glob_match(g, &server) || (!name.is_empty() && glob_match(g, &name)))
    }

    /// Whether the window is open at `now`: its schedule fired within the last `duration`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.time_zone.clone()).datetime();
        let Ok(minute) = local.with().second(0).subsec_nanosecond(0).build() else {
            return false;
        };
        (0..self.duration_minutes).any(|back| {
            minute
                .checked_sub(back.minutes())
                .is_ok_and(|at| self.schedule.fires_at(at))
        })
    }
}

/// Reads a project's windows.
pub fn parse_windows(windows: &[Value]) -> Result<Vec<SyncWindow>, WindowError> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| SyncWindow::parse(i, w))
        .collect()
}

/// Why a sync may not run now, or `None` when it may.
pub fn blocked(
    windows: &[SyncWindow],
    app: &Application,
    manual: bool,
    now: Timestamp,
) -> Option<String> {
    let applicable: Vec<&SyncWindow> = windows.iter().filter(|w| w.applies_to(app)).collect();
    let active_deny: Vec<&&SyncWindow> = applicable
        .iter()
        .filter(|w| w.kind == WindowKind::Deny && w.is_active(now))
        .collect();
    let deny_lets_through = manual && active_deny.iter().all(|w| w.manual_sync);
    if !active_deny.is_empty() && !deny_lets_through {
        return Some(format!(
            "a deny sync window is active (schedule {})",
            active_deny[0].schedule_text
        ));
    }
    let allows: Vec<&&SyncWindow> = applicable
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    let allow_open = allows.iter().any(|w| w.is_active(now));
    let allow_lets_through = manual && allows.iter().any(|w| w.manual_sync);
    if !allows.is_empty() && !allow_open && !allow_lets_through {
        return Some(format!(
            "no allow sync window is active (schedule {})",
            allows[0].schedule_text
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn app(namespace: &str) -> Application {
        Application::parse(
            &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                    "metadata": {"name": "shop"},
                    "spec": {"source": {"repoURL": "r"},
                             "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace}}}),
            "argocd",
        )
        .unwrap()
    }

    #[test]
    fn schedules_fire_as_cron_says() {
        let s = Schedule::parse("30 9-17/2 * * mon-fri").unwrap();
        // 2026-12-07 is a Monday.
        assert!(s.fires_at("2026-12-07T09:30".parse().unwrap()));
        assert!(s.fires_at("2026-12-07T11:30".parse().unwrap()));
        assert!(!s.fires_at("2026-12-07T10:30".parse().unwrap()));
        assert!(!s.fires_at("2026-12-06T09:30".parse().unwrap()), "Sunday");
        let sunday = Schedule::parse("0 0 * * 7").unwrap();
        assert!(sunday.fires_at("2026-12-06T00:00".parse().unwrap()));
        let either = Schedule::parse("0 0 1 * mon").unwrap();
        assert!(
            either.fires_at("2026-12-01T00:00".parse().unwrap()),
            "the 1st (a Tuesday)"
        );
        assert!(
            either.fires_at("2026-12-07T00:00".parse().unwrap()),
            "a Monday"
        );
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("* * *").is_err());
        assert!(
            Schedule::parse("@daily")
                .unwrap()
                .fires_at("2026-01-01T00:00".parse().unwrap())
        );
    }

    #[test]
    fn deny_and_allow_windows_block_as_argocd_does() {
        let windows = parse_windows(&[
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "namespaces": ["prod-*"], "manualSync": true}),
            json!({"kind": "allow", "schedule": "0 9 * * *", "duration": "1h", "applications": ["shop"]}),
        ])
        .unwrap();
        let prod = app("prod-eu");
        // 23:00: the deny window (22:00 + 8h) is active.
        let night = at("2026-12-07T23:00:00Z");
        assert!(
            blocked(&windows, &prod, false, night)
                .unwrap()
                .contains("deny")
        );
        assert!(
            blocked(&windows, &prod, true, night)
                .unwrap()
                .contains("allow"),
            "manual passes the deny but no allow window is open"
        );
        // 09:30: the allow window is open, no deny.
        assert_eq!(
            blocked(&windows, &prod, false, at("2026-12-07T09:30:00Z")),
            None
        );
        // 12:00: the allow window is closed.
        assert!(blocked(&windows, &prod, false, at("2026-12-07T12:00:00Z")).is_some());
        // Another app in another namespace: no window applies.
        let mut other = app("dev");
        other.name = "other".into();
        assert_eq!(blocked(&windows, &other, false, night), None);
    }

    #[test]
    fn bad_windows_are_named() {
        let e = parse_windows(&[
            json!({"kind": "sometimes", "schedule": "* * * * *", "duration": "1h"}),
        ])
        .unwrap_err();
        assert_eq!(e.index, 0);
        let e = parse_windows(&[json!({"kind": "allow", "schedule": "* * * * *", "duration": "1h", "timeZone": "Mars/Olympus"})]).unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
    }
}
