//! `rw top ADDR [--interval SECS] [--once] [--json]`: live view of a stats socket. This file
//! picks the mode (raw JSON, one frame, a frame per interval when stdout is no terminal, the
//! full-screen view); ui/top.rs draws.

use crate::cli::TopArgs;
use crate::stats::client::{self, Target};
use crate::ui::top;
use std::io::{IsTerminal, Write};

/// `rw top`. Exit 0; 1 when `--once`/`--json` cannot read the stats.
pub fn run(args: &TopArgs) -> anyhow::Result<u8> {
    let target = Target::parse(&args.addr)?;
    let interval = if args.interval.is_finite() && args.interval > 0.0 {
        args.interval.max(0.1)
    } else {
        1.0
    };
    if args.json {
        return match client::read_all(&target, top::read_timeout(interval)) {
            Ok(raw) => {
                let v: serde_json::Value =
                    match serde_json::from_str(&String::from_utf8_lossy(&raw)) {
                        Ok(v) => v,
                        Err(e) => {
                            eprintln!("rw: {} sent invalid stats JSON: {e}", args.addr);
                            return Ok(1);
                        }
                    };
                let mut out = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, &v)?;
                writeln!(out)?;
                Ok(0)
            }
            Err(e) => {
                eprintln!("rw: cannot read stats from {}: {e:#}", args.addr);
                Ok(1)
            }
        };
    }
    let mut opts = top::Opts {
        host: target.node(),
        ..top::Opts::default()
    };
    if args.once {
        return match client::fetch(&target, top::read_timeout(interval)) {
            Ok((stats, _)) => {
                opts.now = crate::log::date::ctime_now();
                let mut out = std::io::stdout().lock();
                for l in top::render(&stats, None, 0.0, &opts) {
                    writeln!(out, "{l}")?;
                }
                Ok(0)
            }
            Err(e) => {
                eprintln!("rw: cannot read stats from {}: {e:#}", args.addr);
                Ok(1)
            }
        };
    }
    if !std::io::stdout().is_terminal() {
        return top::batch(&target, &args.addr, interval, opts);
    }
    top::live(&target, &args.addr, interval, opts)
}
