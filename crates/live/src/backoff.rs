//! The reconnect and retry schedule: exponential backoff with full jitter.
//!
//! Full jitter (sleep a uniform random time in `[0, cap]`, where the cap
//! doubles each attempt up to a maximum) spreads many clients reconnecting
//! after the same outage, instead of having them retry in lock-step; see
//! <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>.
//! Pure: the random source is passed in, so tests seed it.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::config::Backoff;

/// The cap on the delay before attempt `attempt` (0-based):
/// `min(max, initial * 2^attempt)`, saturating.
pub fn backoff_cap(backoff: &Backoff, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    backoff.initial.checked_mul(factor).unwrap_or(backoff.max).min(backoff.max)
}

/// A delay drawn uniformly from `[0, backoff_cap(attempt)]`.
pub fn full_jitter(backoff: &Backoff, attempt: u32, rng: &mut impl Rng) -> Duration {
    let cap = u64::try_from(backoff_cap(backoff, attempt).as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=cap))
}

/// One session's (or request's) position in the schedule.
#[derive(Debug)]
pub struct BackoffState {
    backoff: Backoff,
    attempt: u32,
    rng: rand::rngs::SmallRng,
}

impl BackoffState {
    /// A fresh schedule. The seed only decorrelates clients; it need not be
    /// secret, so a time- and id-derived seed is enough (and keeps the crate
    /// free of an OS randomness dependency).
    pub fn new(backoff: Backoff, seed: u64) -> Self {
        BackoffState { backoff, attempt: 0, rng: rand::rngs::SmallRng::seed_from_u64(seed) }
    }

    /// The next delay; each call moves one attempt further.
    pub fn next_delay(&mut self) -> Duration {
        let d = full_jitter(&self.backoff, self.attempt, &mut self.rng);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// How many delays have been drawn since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over (after a stable period or a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Resets if a connection stayed up for the configured stable period.
    pub fn connection_lasted(&mut self, up: Duration) {
        if up >= self.backoff.reset_after {
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;

    use super::*;

    fn cfg() -> Backoff {
        Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30), reset_after: Duration::from_secs(30) }
    }

    #[test]
    fn caps_double_up_to_the_maximum() {
        let b = cfg();
        let caps: Vec<u128> = (0..10).map(|a| backoff_cap(&b, a).as_millis()).collect();
        assert_eq!(caps, vec![250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(backoff_cap(&b, u32::MAX), b.max);
        assert_eq!(backoff_cap(&b, 40), b.max);
    }

    #[test]
    fn delays_are_jittered_within_the_cap() {
        let b = cfg();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..12 {
            let cap = backoff_cap(&b, attempt);
            let draws: Vec<Duration> = (0..200).map(|_| full_jitter(&b, attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= cap), "attempt {attempt}");
            // Full jitter: spread over the whole range, not bunched at the cap.
            let below_half = draws.iter().filter(|d| **d < cap / 2).count();
            assert!((50..150).contains(&below_half), "attempt {attempt}: {below_half} of 200 below half");
            let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
            assert!(distinct.len() > 190);
        }
    }

    #[test]
    fn the_schedule_grows_and_resets_after_a_stable_period() {
        let mut s = BackoffState::new(cfg(), 1);
        let mut maxes = Vec::new();
        for _ in 0..8 {
            maxes.push(s.next_delay());
        }
        assert_eq!(s.attempt(), 8);
        // The later delays come from larger caps: their sum dwarfs the first ones'.
        assert!(maxes[4..].iter().sum::<Duration>() > maxes[..2].iter().sum::<Duration>());
        s.connection_lasted(Duration::from_secs(29));
        assert_eq!(s.attempt(), 8);
        s.connection_lasted(Duration::from_secs(30));
        assert_eq!(s.attempt(), 0);
        assert!(s.next_delay() <= Duration::from_millis(250));
        // Same seed, same schedule.
        let (mut a, mut b) = (BackoffState::new(cfg(), 9), BackoffState::new(cfg(), 9));
        assert_eq!((0..5).map(|_| a.next_delay()).collect::<Vec<_>>(), (0..5).map(|_| b.next_delay()).collect::<Vec<_>>());
    }
}
