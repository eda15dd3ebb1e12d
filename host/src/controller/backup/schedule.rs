//! Cron schedules ("minute hour day-of-month month day-of-week", UTC) and the one due
//! backup they ask for. Evaluated by the HarborCluster reconcile: a schedule creates
//! HarborBackups the operator can see into, not a CronJob. After an outage only the
//! latest missed time is due, so missed runs happen once, not once each.

use k8s_openapi::jiff::civil::DateTime;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan as _};

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Vixie cron: when both day fields are restricted, a day matching either runs.
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// How far back and ahead a schedule is searched: longer than any cron period.
const SEARCH_DAYS: i64 = 366 * 5;

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!("{text:?} has {} fields; a schedule has five: minute hour day-of-month month day-of-week", fields.len()));
        };
        let mut weekdays = field(weekday, 0, 7, "day-of-week")?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        weekdays.truncate(7);
        Ok(Schedule {
            minutes: field(minute, 0, 59, "minute")?,
            hours: field(hour, 0, 23, "hour")?,
            days: field(day, 1, 31, "day-of-month")?,
            months: field(month, 1, 12, "month")?,
            weekdays,
            days_restricted: *day != "*",
            weekdays_restricted: *weekday != "*",
        })
    }

    /// The latest time at or before `now` the schedule fires, to the minute.
    pub fn latest_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        let now = now.to_zoned(TimeZone::UTC).datetime();
        let today = now.date();
        for back in 0..SEARCH_DAYS {
            let date = today.checked_sub(back.days()).ok()?;
            if !self.runs_on(date) {
                continue;
            }
            for hour in (0..24).rev() {
                for minute in (0..60).rev() {
                    let at = DateTime::new(date.year(), date.month(), date.day(), hour, minute, 0, 0).ok()?;
                    if at <= now && self.hours[hour as usize] && self.minutes[minute as usize] {
                        return at.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
                    }
                }
            }
        }
        None
    }

    /// The first time after `now` the schedule fires.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let now = now.to_zoned(TimeZone::UTC).datetime();
        let today = now.date();
        for ahead in 0..SEARCH_DAYS {
            let date = today.checked_add(ahead.days()).ok()?;
            if !self.runs_on(date) {
                continue;
            }
            for hour in 0..24 {
                for minute in 0..60 {
                    let at = DateTime::new(date.year(), date.month(), date.day(), hour, minute, 0, 0).ok()?;
                    if at > now && self.hours[hour as usize] && self.minutes[minute as usize] {
                        return at.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
                    }
                }
            }
        }
        None
    }

    fn runs_on(&self, date: k8s_openapi::jiff::civil::Date) -> bool {
        if !self.months[date.month() as usize] {
            return false;
        }
        let day = self.days[date.day() as usize];
        let weekday = self.weekdays[date.weekday().to_sunday_zero_offset() as usize];
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }
}

/// One field: `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n`, lists of those.
fn field(text: &str, min: u32, max: u32, name: &str) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    let bad = |why: &str| format!("{name} field {text:?}: {why}");
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                (range, step.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| bad("the step must be a positive number"))?)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            (
                number(low, min, max).ok_or_else(|| bad("not a number in range"))?,
                number(high, min, max).ok_or_else(|| bad("not a number in range"))?,
            )
        } else {
            let value = number(range, min, max).ok_or_else(|| bad(&format!("not a number from {min} to {max}")))?;
            (value, if step > 1 { max } else { value })
        };
        if low > high {
            return Err(bad("a range must go upwards"));
        }
        for value in (low..=high).step_by(step as usize) {
            set[value as usize] = true;
        }
    }
    Ok(set)
}

fn number(text: &str, min: u32, max: u32) -> Option<u32> {
    text.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_latest_due_time_is_found_and_the_next_one_after_it() {
        let daily = Schedule::parse("0 3 * * *").unwrap();
        assert_eq!(daily.latest_at_or_before(at("2026-11-30T10:00:00Z")), Some(at("2026-11-30T03:00:00Z")));
        assert_eq!(daily.latest_at_or_before(at("2026-11-30T02:59:59Z")), Some(at("2026-11-29T03:00:00Z")));
        assert_eq!(daily.latest_at_or_before(at("2026-11-30T03:00:00Z")), Some(at("2026-11-30T03:00:00Z")));
        assert_eq!(daily.next_after(at("2026-11-30T03:00:00Z")), Some(at("2026-12-01T03:00:00Z")));
    }

    #[test]
    fn an_outage_leaves_one_due_time_not_one_per_missed_run() {
        let hourly = Schedule::parse("*/15 * * * *").unwrap();
        // Down from 01:00 to 05:07: sixteen runs missed, one is due.
        assert_eq!(hourly.latest_at_or_before(at("2026-11-30T05:07:00Z")), Some(at("2026-11-30T05:00:00Z")));
    }

    #[test]
    fn lists_ranges_steps_and_weekdays() {
        let weekdays = Schedule::parse("30 1,13 * * 1-5").unwrap();
        // 2026-11-29 is a Sunday: the latest is Friday 13:30.
        assert_eq!(weekdays.latest_at_or_before(at("2026-11-29T12:00:00Z")), Some(at("2026-11-27T13:30:00Z")));
        let sunday = Schedule::parse("0 0 * * 7").unwrap();
        assert_eq!(sunday.latest_at_or_before(at("2026-11-30T12:00:00Z")), Some(at("2026-11-29T00:00:00Z")));
        // Day-of-month or day-of-week, as cron has it.
        let either = Schedule::parse("0 0 1 * 1").unwrap();
        assert_eq!(either.latest_at_or_before(at("2026-11-30T12:00:00Z")), Some(at("2026-11-30T00:00:00Z")));
    }

    #[test]
    fn a_bad_schedule_names_its_field() {
        assert!(Schedule::parse("0 3 * *").unwrap_err().contains("five"));
        assert!(Schedule::parse("0 25 * * *").unwrap_err().contains("hour"));
        assert!(Schedule::parse("*/0 * * * *").unwrap_err().contains("step"));
        assert!(Schedule::parse("5-1 * * * *").unwrap_err().contains("upwards"));
        assert!(Schedule::parse("0 0 31 2 *").unwrap().latest_at_or_before(at("2026-11-30T00:00:00Z")).is_none());
    }
}
