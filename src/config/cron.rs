//! uWSGI's command crons (`cron`, `unique-cron`, `cron2`): reading their values and the rule
//! that decides whether a line runs at a given local time. Pure: the master (server/cron.rs)
//! brings the clock and the processes.

use super::diag::Diagnostic;
use super::kvlist;
use super::resolve::Config;

/// One cron line as uWSGI 2.0 reads it. Fields are uWSGI's integers: `N` matches N, `-1`
/// matches every value, `-N` every value divisible by N (`*/N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronDef {
    pub minute: i32,
    pub hour: i32,
    pub day: i32,
    pub month: i32,
    pub week: i32,
    pub command: String,
    /// Never start it while the previous run is still going.
    pub unique: bool,
    pub harakiri: Harakiri,
    /// cron2 `legion=`: rw has no legions (the line runs on this instance).
    pub legion: Option<String>,
}

/// How long a run may take before the master kills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harakiri {
    /// `cron-harakiri` (0: no limit).
    Default,
    /// cron2 `harakiri=N`, N > 0.
    Secs(u64),
    /// cron2 `harakiri=0`: no limit, whatever `cron-harakiri` says.
    Off,
}

/// A local time as the rule reads it (C's `struct tm`, month 1-based as uWSGI fixes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub minute: i32,
    pub hour: i32,
    /// Day of the month, 1..31.
    pub mday: i32,
    /// 1..12.
    pub month: i32,
    /// 0 = Sunday.
    pub wday: i32,
}

/// Whether a field's value is what the line asks for at `now` (uWSGI's
/// `uwsgi_cron_task_needs_execution`): a negative field matches every multiple of its
/// absolute value, so -1 is `*`.
fn field(want: i32, now: i32) -> i32 {
    if want < 0 && now % want.unsigned_abs() as i32 == 0 {
        now
    } else {
        want
    }
}

/// uWSGI's rule: every field must match; when both the day of the month and the day of the
/// week are fixed (not negative), either of them matching is enough, as in crontab(5).
/// A week of 7 is Sunday.
pub fn due(c: &CronDef, t: When) -> bool {
    let week = if c.week == 7 { 0 } else { c.week };
    let (min, hour, mon) = (
        field(c.minute, t.minute),
        field(c.hour, t.hour),
        field(c.month, t.month),
    );
    let (day, wday) = (field(c.day, t.mday), field(week, t.wday));
    let base = t.minute == min && t.hour == hour && t.month == mon;
    if c.day >= 0 && c.week >= 0 {
        base && (t.mday == day || t.wday == wday)
    } else {
        base && t.mday == day && t.wday == wday
    }
}

/// A C `%d` field as sscanf reads it: optional sign, digits.
fn int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `cron` / `unique-cron`: `MIN HOUR DAY MONTH WEEK COMMAND`.
pub fn cron(value: &str, unique: bool) -> Result<CronDef, String> {
    let mut rest = value.trim_start();
    let mut f = [0i32; 5];
    for (i, slot) in f.iter_mut().enumerate() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        *slot = int(word).ok_or_else(|| {
            let hint = if word.contains('*') || word.contains('/') || word.contains(',') {
                ": uWSGI's cron fields are numbers (-1 for every value, -N for every N), not crontab's `*`, `*/N` or lists"
            } else {
                ""
            };
            format!(
                "cron `{value}`: field {} (`{word}`) is not a number{hint} (uWSGI: invalid cron syntax)",
                i + 1
            )
        })?;
        rest = rest[end..].trim_start();
    }
    if rest.is_empty() {
        return Err(format!(
            "cron `{value}`: no command after the five fields (MIN HOUR DAY MONTH WEEK COMMAND)"
        ));
    }
    Ok(CronDef {
        minute: f[0],
        hour: f[1],
        day: f[2],
        month: f[3],
        week: f[4],
        command: rest.to_string(),
        unique,
        harakiri: Harakiri::Default,
        legion: None,
    })
}

/// The keys `cron2` reads.
const CRON2_KEYS: &[&str] = &[
    "minute", "hour", "day", "month", "week", "unique", "harakiri", "legion",
];

/// `cron2`: `[key=val,…] COMMAND` (the keys before the first space when that part holds a
/// `=`); an absent field is -1 (every value). Returns the line and the keys it ignored
/// (unknown ones, and items without `=`, which uWSGI skips silently).
pub fn cron2(value: &str) -> Result<(CronDef, Vec<String>), String> {
    let (keys, command) = match value.split_once(' ') {
        Some((k, c)) if k.contains('=') => (k, c),
        // uWSGI reads the whole value as a key list then, which finds no key in a command.
        Some(_) => ("", value),
        None if value.contains('=') => {
            return Err(format!(
                "cron2 `{value}`: keys but no command (`key=val,… COMMAND`; uWSGI: unable to parse cron definition)"
            ))
        }
        None => ("", value),
    };
    let command = command.trim();
    if command.is_empty() {
        return Err(format!("cron2 `{value}`: no command"));
    }
    let kv = kvlist::parse(keys, CRON2_KEYS);
    let num = |k: &str| -> Result<i32, String> {
        match kv.get(k) {
            None => Ok(-1),
            Some(v) => int(v).ok_or_else(|| format!("cron2 `{value}`: {k}={v} is not a number")),
        }
    };
    let harakiri = match kv.get("harakiri") {
        None => Harakiri::Default,
        Some(v) => match int(v) {
            Some(0) => Harakiri::Off,
            Some(n) if n > 0 => Harakiri::Secs(n as u64),
            _ => {
                return Err(format!(
                    "cron2 `{value}`: harakiri={v} is not a number of seconds"
                ))
            }
        },
    };
    let unique = match kv.get("unique") {
        None => false,
        Some(v) => int(v).ok_or_else(|| format!("cron2 `{value}`: unique={v} is not 0 or 1"))? != 0,
    };
    let def = CronDef {
        minute: num("minute")?,
        hour: num("hour")?,
        day: num("day")?,
        month: num("month")?,
        week: num("week")?,
        command: command.to_string(),
        unique,
        harakiri,
        legion: kv.get("legion").map(str::to_string),
    };
    Ok((def, kv.ignored))
}

/// The options, in the order their lines are collected.
pub const OPTIONS: &[&str] = &["cron", "unique-cron", "cron2"];

fn parse(opt: &str, value: &str) -> Result<(CronDef, Vec<String>), String> {
    match opt {
        "cron2" => {
            let (def, ignored) = cron2(value)?;
            let mut warn: Vec<String> = ignored
                .iter()
                .map(|k| format!("cron2: key `{k}` is unknown and ignored"))
                .collect();
            if let Some(l) = &def.legion {
                warn.push(format!(
                    "cron2: rw has no Legion: this cron runs on this instance, not only on the lord of `{l}`"
                ));
            }
            Ok((def, warn))
        }
        _ => Ok((cron(value, opt == "unique-cron")?, Vec::new())),
    }
}

/// Every cron line of the config, in [`OPTIONS`] order.
pub fn crons(cfg: &Config) -> Result<Vec<CronDef>, Diagnostic> {
    cfg.parse_each(OPTIONS, parse)
}

/// The value checks, part of loading (serve and check-config refuse the same configs).
pub fn check(cfg: &Config, d: &mut Vec<Diagnostic>) {
    cfg.check_each(OPTIONS, parse, d);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i32, hour: i32, mday: i32, month: i32, wday: i32) -> When {
        When {
            minute,
            hour,
            mday,
            month,
            wday,
        }
    }

    fn line(f: [i32; 5]) -> CronDef {
        cron(
            &format!("{} {} {} {} {} true", f[0], f[1], f[2], f[3], f[4]),
            false,
        )
        .unwrap()
    }

    #[test]
    fn minus_one_is_every_value() {
        let c = line([-1, -1, -1, -1, -1]);
        for m in [0, 1, 17, 59] {
            assert!(due(&c, at(m, 23, 31, 12, 6)));
        }
    }

    #[test]
    fn minus_n_is_every_nth() {
        let c = line([-5, -1, -1, -1, -1]);
        let hits: Vec<i32> = (0..60).filter(|m| due(&c, at(*m, 3, 1, 1, 0))).collect();
        assert_eq!(hits, vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]);
        let c = line([0, -6, -1, -1, -1]);
        let hours: Vec<i32> = (0..24).filter(|h| due(&c, at(0, *h, 1, 1, 0))).collect();
        assert_eq!(hours, vec![0, 6, 12, 18]);
        assert!(!due(&c, at(1, 6, 1, 1, 0)));
    }

    #[test]
    fn fixed_fields_must_all_match() {
        let c = line([30, 4, -1, 7, -1]);
        assert!(due(&c, at(30, 4, 9, 7, 2)));
        assert!(!due(&c, at(30, 4, 9, 8, 2)), "month");
        assert!(!due(&c, at(31, 4, 9, 7, 2)), "minute");
        assert!(!due(&c, at(30, 5, 9, 7, 2)), "hour");
    }

    #[test]
    fn day_and_week_both_fixed_is_either() {
        // 1st of the month or a Monday, as crontab(5).
        let c = line([0, 0, 1, -1, 1]);
        assert!(due(&c, at(0, 0, 1, 3, 4)), "the 1st, a Thursday");
        assert!(due(&c, at(0, 0, 9, 3, 1)), "a Monday, the 9th");
        assert!(!due(&c, at(0, 0, 9, 3, 2)), "neither");
        // Only one fixed: both must match (the other is -1, always matching).
        let c = line([0, 0, 1, -1, -1]);
        assert!(!due(&c, at(0, 0, 9, 3, 1)));
        assert!(due(&c, at(0, 0, 1, 3, 1)));
    }

    #[test]
    fn week_seven_is_sunday() {
        let c = line([0, 0, -1, -1, 7]);
        assert!(due(&c, at(0, 0, 5, 5, 0)));
        assert!(!due(&c, at(0, 0, 5, 5, 6)));
    }

    #[test]
    fn cron_values_as_uwsgi_scans_them() {
        let c = cron("  0 -2 +1 -1 5   /usr/bin/backup --all  ", true).unwrap();
        assert_eq!(
            (c.minute, c.hour, c.day, c.month, c.week),
            (0, -2, 1, -1, 5)
        );
        assert_eq!(c.command, "/usr/bin/backup --all  ");
        assert!(c.unique);
        for bad in [
            "* * * * * cmd",
            "0 0 0 0 cmd",
            "0 0 0 0 0",
            "a 0 0 0 0 x",
            "*/5 -1 -1 -1 -1 x",
        ] {
            assert!(cron(bad, false).is_err(), "{bad}");
        }
        assert!(cron("* * * * * x", false)
            .unwrap_err()
            .contains("-1 for every value"));
    }

    #[test]
    fn cron2_keys_then_command() {
        let (c, ignored) = cron2("minute=-5,hour=3,unique=1,harakiri=30 /bin/task a,b").unwrap();
        assert_eq!(
            (c.minute, c.hour, c.day, c.month, c.week),
            (-5, 3, -1, -1, -1)
        );
        assert!(c.unique);
        assert_eq!(c.harakiri, Harakiri::Secs(30));
        assert_eq!(c.command, "/bin/task a,b");
        assert!(ignored.is_empty());
        let (c, _) = cron2("harakiri=0 x").unwrap();
        assert_eq!(c.harakiri, Harakiri::Off);
        // No keys: every minute.
        let (c, _) = cron2("echo hi").unwrap();
        assert_eq!((c.minute, c.week, c.command.as_str()), (-1, -1, "echo hi"));
        let (c, _) = cron2("/bin/true").unwrap();
        assert_eq!(c.command, "/bin/true");
        let (_, ignored) = cron2("minute=1,colour=red,bare cmd").unwrap();
        assert_eq!(ignored, vec!["colour".to_string(), "bare".to_string()]);
        for bad in ["minute=1", "minute=x cmd", "harakiri=-3 cmd", "minute=1 "] {
            assert!(cron2(bad).is_err(), "{bad}");
        }
    }
}
