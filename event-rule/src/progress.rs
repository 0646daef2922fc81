//! The progress line of a long run: `accounts done/total, regions done/total,
//! failures N`, redrawn in place on stderr when it is a terminal, and cleared when the
//! run ends. Nothing is written when stderr is not a terminal or with `--no-progress`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// What a run has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Accounts prepared (role assumed, regions listed), failed ones included.
    pub accounts_done: usize,
    /// Target accounts.
    pub accounts_total: usize,
    /// Account-regions finished (set up, skipped or failed).
    pub regions_done: usize,
    /// Account-regions known so far: it grows as accounts are prepared.
    pub regions_total: usize,
    /// Failed rows so far.
    pub failures: usize,
}

impl Counts {
    /// The progress line, such as `accounts 3/200, regions 51/3400, failures 0`.
    pub fn line(&self) -> String {
        format!(
            "accounts {}/{}, regions {}/{}, failures {}",
            self.accounts_done,
            self.accounts_total,
            self.regions_done,
            self.regions_total,
            self.failures
        )
    }
}

struct State {
    counts: Counts,
    out: Option<Box<dyn Write + Send>>,
    last_draw: Option<Instant>,
}

/// Counts a run's progress and, when drawing, shows it on one line.
pub struct Progress {
    state: Mutex<State>,
    every: Duration,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// Draws on stderr when it is a terminal and `enabled`; otherwise only counts.
    pub fn on_stderr(enabled: bool) -> Progress {
        let out: Option<Box<dyn Write + Send>> = (enabled && std::io::stderr().is_terminal())
            .then(|| Box::new(std::io::stderr()) as Box<dyn Write + Send>);
        Progress::new(out, REDRAW_EVERY)
    }

    /// Draws on `out` (`None`: only counts), redrawing at most once per `every`.
    pub fn new(out: Option<Box<dyn Write + Send>>, every: Duration) -> Progress {
        Progress {
            state: Mutex::new(State {
                counts: Counts::default(),
                out,
                last_draw: None,
            }),
            every,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.state
            .lock()
            .map(|s| s.counts)
            .unwrap_or_else(|p| p.into_inner().counts)
    }

    /// The run targets `accounts` accounts.
    pub fn start(&self, accounts: usize) {
        self.update(|c| c.accounts_total = accounts);
    }

    /// An account is prepared: `finished` of its regions are already done (skipped,
    /// or failed during preparation), `pending` are still to do, and `failures` of its
    /// rows so far failed.
    pub fn account_done(&self, finished: usize, pending: usize, failures: usize) {
        self.update(|c| {
            c.accounts_done += 1;
            c.regions_total += finished + pending;
            c.regions_done += finished;
            c.failures += failures;
        });
    }

    /// An account-region is done.
    pub fn region_done(&self, failed: bool) {
        self.update(|c| {
            c.regions_done += 1;
            c.failures += usize::from(failed);
        });
    }

    /// A row outside accounts' regions (the central queue) failed.
    pub fn failed(&self) {
        self.update(|c| c.failures += 1);
    }

    /// Clears the line: the run is over.
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(out) = s.out.as_mut() {
            // Errors writing to a terminal are not worth failing a run for.
            let _ = out.write_all(b"\r\x1b[2K").and_then(|_| out.flush());
        }
        s.last_draw = None;
    }

    fn update(&self, f: impl FnOnce(&mut Counts)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s.counts);
        let due = s.last_draw.is_none_or(|t| t.elapsed() >= self.every);
        if !due {
            return;
        }
        let line = s.counts.line();
        if let Some(out) = s.out.as_mut() {
            // Erase the line, draw, and return to its start, so that a log line written
            // meanwhile overwrites it instead of being appended to it.
            let _ = write!(out, "\r\x1b[2K{line}\r").and_then(|_| out.flush());
            s.last_draw = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Screen {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn line_format() {
        let c = Counts {
            accounts_done: 3,
            accounts_total: 200,
            regions_done: 51,
            regions_total: 3400,
            failures: 2,
        };
        assert_eq!(c.line(), "accounts 3/200, regions 51/3400, failures 2");
        assert_eq!(
            Counts::default().line(),
            "accounts 0/0, regions 0/0, failures 0"
        );
    }

    #[test]
    fn counting() {
        let p = Progress::new(None, Duration::ZERO);
        p.start(3);
        // Account 1: 2 regions skipped in preparation (one failed), 15 to do.
        p.account_done(2, 15, 1);
        // Account 2: its role could not be assumed: one failed row, no region.
        p.account_done(0, 0, 1);
        for i in 0..15 {
            p.region_done(i == 4);
        }
        p.failed();
        assert_eq!(
            p.counts(),
            Counts {
                accounts_done: 2,
                accounts_total: 3,
                regions_done: 17,
                regions_total: 17,
                failures: 4,
            }
        );
    }

    #[test]
    fn draws_in_place_and_clears_at_the_end() {
        let screen = Screen::default();
        let p = Progress::new(Some(Box::new(screen.clone())), Duration::ZERO);
        p.start(2);
        p.account_done(0, 3, 0);
        p.region_done(true);
        assert_eq!(
            screen.text(),
            "\r\x1b[2Kaccounts 0/2, regions 0/0, failures 0\r\
             \r\x1b[2Kaccounts 1/2, regions 0/3, failures 0\r\
             \r\x1b[2Kaccounts 1/2, regions 1/3, failures 1\r"
        );
        p.finish();
        assert!(screen.text().ends_with("failures 1\r\r\x1b[2K"));
        // No newline ever: the line is redrawn in place and leaves nothing behind.
        assert!(!screen.text().contains('\n'));
    }

    #[test]
    fn redraws_are_rate_limited() {
        let screen = Screen::default();
        let p = Progress::new(Some(Box::new(screen.clone())), Duration::from_secs(3600));
        p.start(1000);
        for _ in 0..1000 {
            p.account_done(0, 17, 0);
        }
        // Only the first update was drawn; every later one was counted.
        assert_eq!(screen.text().matches("\x1b[2K").count(), 1);
        assert_eq!(p.counts().regions_total, 17_000);
        p.finish();
        assert_eq!(screen.text().matches("\x1b[2K").count(), 2);
    }

    #[test]
    fn nothing_is_written_without_a_terminal() {
        // Not drawing when disabled, whatever stderr is.
        let p = Progress::on_stderr(false);
        p.start(1);
        p.account_done(1, 0, 0);
        p.finish();
        assert_eq!(p.counts().accounts_done, 1);
        assert!(p.state.lock().unwrap().out.is_none());
    }
}
