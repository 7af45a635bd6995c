//! Restart policies: what happens to a task whose code panicked, returned an error or returned
//! on its own.

use std::collections::VecDeque;
use std::time::Duration;

use super::state::State;

/// When a task is run again after it ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Never: an ended task stays ended.
    #[default]
    Never,
    /// After its code panicked.
    OnPanic,
    /// After its code returned an error.
    OnError,
    /// After its code panicked or returned an error: after a failure.
    OnFailure,
    /// After its code panicked, returned an error or returned on its own. Never after a stop or
    /// an abort that a person or the program asked for.
    Always,
}

/// How often a restart policy may restart a task before it gives up and leaves it `failed` for
/// good. The default, 5 restarts within a minute, suits a task that fails because something is
/// wrong; a periodic job that may fail now and then for ever wants
/// [`RestartLimit::unlimited`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RestartLimit {
    /// Restarts allowed within `within`; one more and the task is `failed`.
    pub count: u32,
    /// The window the restarts are counted in.
    pub within: Duration,
}

impl RestartLimit {
    /// Never gives up. The backoff still doubles while restarts come within a minute of each
    /// other, up to the policy's `max_delay`.
    pub const fn unlimited() -> Self {
        Self {
            count: u32::MAX,
            within: Duration::from_secs(60),
        }
    }

    /// Whether it never gives up.
    pub fn is_unlimited(&self) -> bool {
        self.count == u32::MAX
    }
}

impl Default for RestartLimit {
    /// 5 restarts within a minute.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RestartLimit {
    const DEFAULT: Self = Self {
        count: 5,
        within: Duration::from_secs(60),
    };
}

/// A task's restart policy: when to restart it, how long to wait first (doubling from `delay` up
/// to `max_delay`, with some jitter), and when to give up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RestartPolicy {
    /// When.
    pub restart: Restart,
    /// The first wait; each restart within the limit's window doubles it.
    pub delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// When to give up.
    pub limit: RestartLimit,
}

impl Default for RestartPolicy {
    /// Never restart; when restarting, from 100 ms up to 30 s, at most 5 times a minute.
    fn default() -> Self {
        Self::NEVER
    }
}

impl RestartPolicy {
    /// The default, for a task given no policy.
    pub(crate) const NEVER: Self = Self {
        restart: Restart::Never,
        delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(30),
        limit: RestartLimit::DEFAULT,
    };

    /// Restart after a panic, with the default backoff (100 ms doubling up to 30 s) and limit:
    /// a sixth restart within a minute gives up and leaves the task `failed` for good (see
    /// [`RestartPolicy::limit`] and [`RestartLimit::unlimited`]).
    pub fn on_panic() -> Self {
        Self {
            restart: Restart::OnPanic,
            ..Self::default()
        }
    }

    /// Restart after returning an error, with the default backoff and limit (5 restarts within
    /// a minute, then `failed`: a periodic job that may fail for ever wants
    /// `.with_limit(RestartLimit::unlimited())`).
    pub fn on_error() -> Self {
        Self {
            restart: Restart::OnError,
            ..Self::default()
        }
    }

    /// Restart after a panic or an error, with the default backoff and limit (5 restarts within
    /// a minute, then `failed`).
    pub fn on_failure() -> Self {
        Self {
            restart: Restart::OnFailure,
            ..Self::default()
        }
    }

    /// Restart after a panic, an error or returning on its own, with the default backoff and
    /// limit (5 restarts within a minute, then `failed`).
    pub fn always() -> Self {
        Self {
            restart: Restart::Always,
            ..Self::default()
        }
    }

    /// The same policy with a first wait of `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same policy waiting at most `max_delay`.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The same policy giving up after `count` restarts within `within`.
    pub fn limit(mut self, count: u32, within: Duration) -> Self {
        self.limit = RestartLimit { count, within };
        self
    }

    /// The same policy with `limit`, such as [`RestartLimit::unlimited`].
    pub fn with_limit(mut self, limit: RestartLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Whether a run that ended `end` on its own (nobody asked) is restarted.
    pub(crate) fn covers(&self, end: State) -> bool {
        match (self.restart, end) {
            (Restart::Never, _) => false,
            (Restart::OnPanic, State::Panicked) => true,
            (Restart::OnError, State::Errored) => true,
            (Restart::OnFailure, State::Panicked | State::Errored) => true,
            (Restart::Always, State::Panicked | State::Errored | State::Finished) => true,
            _ => false,
        }
    }

    /// The wait before restart number `n` within the window (0 for the first): `delay` doubled
    /// `n` times, at most `max_delay`, then moved by up to `jitter` of itself either way.
    pub(crate) fn backoff(&self, n: u32, jitter: f64) -> Duration {
        let doubled = self
            .delay
            .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX)
            .min(self.max_delay);
        if jitter <= 0.0 {
            return doubled;
        }
        let factor = 1.0 + jitter * (fastrand::f64() * 2.0 - 1.0);
        doubled.mul_f64(factor.max(0.0))
    }
}

/// What decides a task's next restart: the restarts done within the window.
#[derive(Debug, Default)]
pub(crate) struct RestartHistory {
    /// When each restart within the window was decided, since the supervisor's start.
    recent: VecDeque<Duration>,
    /// Every restart begun, ever.
    pub total: u32,
}

impl RestartHistory {
    /// Decides at `now`: `Some(n)` to restart as the `n`th within the window (counting from 0),
    /// or `None` when the limit is reached and the policy gives up.
    pub fn decide(&mut self, limit: RestartLimit, now: Duration) -> Option<u32> {
        while self
            .recent
            .front()
            .is_some_and(|&at| now.saturating_sub(at) >= limit.within)
        {
            self.recent.pop_front();
        }
        let n = self.recent.len() as u32;
        if n >= limit.count {
            return None;
        }
        self.recent.push_back(now);
        Some(n)
    }

    /// Whether the restarts within the window at `now` have reached the limit: the next end the
    /// policy covers gives up.
    pub fn at_limit(&self, limit: RestartLimit, now: Duration) -> bool {
        let within = self
            .recent
            .iter()
            .filter(|&&at| now.saturating_sub(at) < limit.within)
            .count();
        within as u32 >= limit.count.max(1)
    }

    /// A restart by hand starts the policy's count afresh.
    pub fn forget(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_backoff_doubles_up_to_its_maximum() {
        let p = RestartPolicy::on_panic().delay(ms(100)).max_delay(ms(1000));
        let waits: Vec<_> = (0..6).map(|n| p.backoff(n, 0.0)).collect();
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(p.backoff(200, 0.0), ms(1000), "no overflow");
        for _ in 0..100 {
            let w = p.backoff(1, 0.1);
            assert!(w >= ms(180) && w <= ms(220), "{w:?}");
        }
    }

    #[test]
    fn the_limit_counts_restarts_within_its_window() {
        let limit = RestartLimit {
            count: 2,
            within: ms(1000),
        };
        let mut h = RestartHistory::default();
        assert_eq!(h.decide(limit, ms(0)), Some(0));
        assert_eq!(h.decide(limit, ms(100)), Some(1));
        assert_eq!(h.decide(limit, ms(200)), None, "a third within the second");
        assert_eq!(
            h.decide(limit, ms(1000)),
            Some(1),
            "the first has left the window"
        );
    }
}
