//! [`Pacer`]: how logical time maps onto the wall clock, and the live changes to it (speed, pause,
//! resume). It decides *when* a slice is written, never what is in it, which is why a run gives
//! the same bytes at any speed and with any pauses.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::runtime::Shutdown;

/// Longest a waiting lane sleeps before it looks at the clock (and the stop flag) again.
const MAX_NAP: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
struct State {
    /// At `wall`, logical time was `logical_ns`.
    wall: Instant,
    logical_ns: f64,
    /// Logical seconds per wall-clock second; `None`: as fast as the machine goes.
    speed: Option<f64>,
    paused: bool,
}

impl State {
    fn logical_now(&self, now: Instant) -> f64 {
        match (self.paused, self.speed) {
            (true, _) => self.logical_ns,
            (false, None) => f64::INFINITY,
            (false, Some(speed)) => self.logical_ns + now.saturating_duration_since(self.wall).as_nanos() as f64 * speed,
        }
    }
}

/// The wall-clock pace of a run, shared by its lanes.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

impl Pacer {
    /// Logical 0 at `start`, running at `speed` (`None`: unpaced).
    pub fn new(start: Instant, speed: Option<f64>) -> Self {
        Pacer { state: Mutex::new(State { wall: start, logical_ns: 0.0, speed, paused: false }) }
    }

    /// Logical 0 is now `at`, at `speed` (when the run starts).
    pub fn start(&self, at: Instant, speed: Option<f64>) {
        *self.state() = State { wall: at, logical_ns: 0.0, speed, paused: false };
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sleeps until logical time reaches `logical_ns` (at once when unpaced and not paused), or
    /// the run is stopped.
    pub fn wait_for(&self, logical_ns: u64, stop: &Shutdown) {
        loop {
            let state = *self.state();
            let now = Instant::now();
            let ahead = logical_ns as f64 - state.logical_now(now);
            if ahead <= 0.0 || stop.is_requested() {
                return;
            }
            let nap = match (state.paused, state.speed) {
                (false, Some(speed)) => Duration::from_secs_f64(ahead / 1e9 / speed).min(MAX_NAP),
                _ => MAX_NAP,
            };
            std::thread::sleep(nap);
        }
    }

    /// Logical seconds per wall-clock second (`None`: as fast as it goes).
    pub fn speed(&self) -> Option<f64> {
        self.state().speed
    }

    pub fn is_paused(&self) -> bool {
        self.state().paused
    }

    /// A new speed from now on. `position_ns` is where the lanes are: an unpaced run becomes
    /// paced from there.
    pub fn set_speed(&self, speed: Option<f64>, position_ns: u64) {
        let mut state = self.state();
        let now = Instant::now();
        state.logical_ns = self.anchor(&state, now, position_ns);
        state.wall = now;
        state.speed = speed;
    }

    /// Holds logical time where it is; `false` when already paused.
    pub fn pause(&self, position_ns: u64) -> bool {
        let mut state = self.state();
        if state.paused {
            return false;
        }
        let now = Instant::now();
        state.logical_ns = self.anchor(&state, now, position_ns);
        state.wall = now;
        state.paused = true;
        true
    }

    /// Lets logical time run again; `false` when not paused.
    pub fn resume(&self) -> bool {
        let mut state = self.state();
        if !state.paused {
            return false;
        }
        state.wall = Instant::now();
        state.paused = false;
        true
    }

    /// Logical time now, or the lanes' position when the clock is unpaced (infinitely ahead).
    fn anchor(&self, state: &State, now: Instant, position_ns: u64) -> f64 {
        let logical = state.logical_now(now);
        if logical.is_finite() { logical } else { position_ns as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_time_stands_still_and_resumes_where_it_stopped() {
        let start = Instant::now() - Duration::from_secs(10);
        let pacer = Pacer::new(start, Some(2.0));
        assert!(pacer.pause(0));
        assert!(!pacer.pause(0));
        let held = pacer.state().logical_ns;
        assert!((held - 20e9).abs() < 0.5e9, "{held}");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pacer.state().logical_now(Instant::now()), held);
        assert!(pacer.resume());
        assert!(!pacer.resume());
        assert!(pacer.state().logical_now(Instant::now()) >= held);
    }

    #[test]
    fn an_unpaced_run_gets_a_pace_from_where_its_lanes_are() {
        let pacer = Pacer::new(Instant::now(), None);
        let stop = Shutdown::new();
        pacer.wait_for(u64::MAX / 2, &stop);
        pacer.set_speed(Some(1.0), 30_000_000_000);
        let now = pacer.state().logical_now(Instant::now());
        assert!((30e9..31e9).contains(&now), "{now}");
    }
}
