//! Which finished requests get a log line: uWSGI 2.0's request-log selection.
//!
//! `disable-logging` turns the default "log everything" off; the `log-*` conditions then log
//! a request anyway when it matches one of them (`disable-logging` + `log-5xx` logs only the
//! 5xx). Without `disable-logging` the conditions change nothing: every request is logged.
//! Pure, so the rule is tested apart from the server.

/// The selection options, typed once at startup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Not `disable-logging`: every request is logged.
    pub all: bool,
    /// `log-zero`: responses without a body.
    pub zero: bool,
    /// `log-slow`: requests taking at least this many milliseconds (0 = off).
    pub slow_ms: u64,
    /// `log-4xx`.
    pub status_4xx: bool,
    /// `log-5xx`.
    pub status_5xx: bool,
    /// `log-big`: responses of at least this many body bytes (0 = off).
    pub big: u64,
    /// `log-sendfile`: responses sent with sendfile(2).
    pub sendfile: bool,
    /// `log-ioerror`: requests that had both a read and a write error (uWSGI 2.0 asks for
    /// both; the config check warns about it).
    pub ioerror: bool,
}

/// What the selection looks at in a finished request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub status: u16,
    /// Response body bytes (uWSGI's `response_size`).
    pub body_bytes: u64,
    pub duration_us: u64,
    pub via_sendfile: bool,
    pub read_error: bool,
    pub write_error: bool,
}

impl Selection {
    /// Whether the request gets a log line.
    pub fn wants(&self, o: &Outcome) -> bool {
        self.all
            || (self.zero && o.body_bytes == 0)
            || (self.slow_ms > 0 && o.duration_us / 1000 >= self.slow_ms)
            || (self.status_4xx && (400..=499).contains(&o.status))
            || (self.status_5xx && (500..=599).contains(&o.status))
            || (self.big > 0 && o.body_bytes >= self.big)
            || (self.sendfile && o.via_sendfile)
            || (self.ioerror && o.read_error && o.write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Outcome {
        Outcome {
            status: 200,
            body_bytes: 10,
            duration_us: 1_000,
            ..Default::default()
        }
    }

    #[test]
    fn everything_is_logged_unless_disabled() {
        let all = Selection {
            all: true,
            ..Default::default()
        };
        assert!(all.wants(&ok()));
        // The conditions only add lines: they never remove any.
        let all_5xx = Selection {
            status_5xx: true,
            ..all
        };
        assert!(all_5xx.wants(&ok()));
        assert!(!Selection::default().wants(&ok()));
    }

    #[test]
    fn disabled_logging_keeps_only_what_a_condition_asks_for() {
        let only_5xx = Selection {
            status_5xx: true,
            ..Default::default()
        };
        for (status, want) in [
            (200, false),
            (404, false),
            (499, false),
            (500, true),
            (599, true),
            (600, false),
        ] {
            assert_eq!(
                only_5xx.wants(&Outcome { status, ..ok() }),
                want,
                "{status}"
            );
        }
        let only_4xx = Selection {
            status_4xx: true,
            ..Default::default()
        };
        assert!(only_4xx.wants(&Outcome {
            status: 400,
            ..ok()
        }));
        assert!(!only_4xx.wants(&Outcome {
            status: 500,
            ..ok()
        }));
    }

    #[test]
    fn slow_big_zero_sendfile() {
        let slow = Selection {
            slow_ms: 100,
            ..Default::default()
        };
        assert!(!slow.wants(&Outcome {
            duration_us: 99_999,
            ..ok()
        }));
        assert!(slow.wants(&Outcome {
            duration_us: 100_000,
            ..ok()
        }));
        let big = Selection {
            big: 1000,
            ..Default::default()
        };
        assert!(!big.wants(&Outcome {
            body_bytes: 999,
            ..ok()
        }));
        assert!(big.wants(&Outcome {
            body_bytes: 1000,
            ..ok()
        }));
        let zero = Selection {
            zero: true,
            ..Default::default()
        };
        assert!(zero.wants(&Outcome {
            body_bytes: 0,
            ..ok()
        }));
        assert!(!zero.wants(&ok()));
        let sendfile = Selection {
            sendfile: true,
            ..Default::default()
        };
        assert!(sendfile.wants(&Outcome {
            via_sendfile: true,
            ..ok()
        }));
        assert!(!sendfile.wants(&ok()));
    }

    #[test]
    fn ioerror_needs_both_a_read_and_a_write_error_as_in_uwsgi() {
        let io = Selection {
            ioerror: true,
            ..Default::default()
        };
        assert!(!io.wants(&Outcome {
            read_error: true,
            ..ok()
        }));
        assert!(!io.wants(&Outcome {
            write_error: true,
            ..ok()
        }));
        assert!(io.wants(&Outcome {
            read_error: true,
            write_error: true,
            ..ok()
        }));
    }
}
