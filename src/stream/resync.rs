//! Clock glitches of a live stream: one event stamped far in the future (t = 2^40) or a clock
//! reset backwards would otherwise stall the stream for good (time windows never close again,
//! a replay waits days for the next event). A jump larger than a bound is a glitch: the framer
//! starts a new window from the event after it and the engine resets its lanes (the windows
//! that were open mix two clocks), the replay re-anchors its clock, and the stream counts it
//! (`time_jumps` in the stats and the summary) and warns.
//!
//! Forward bounds are generous (a quiet scene closes its frames by wall time, so a real gap in
//! a live stream never reaches the framer as a jump); backwards, event cameras never go, so the
//! bound is small.

use crate::events::Event;

/// How far event time may move between two consecutive events before it is a glitch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpBound {
    pub forward_us: u64,
    pub backward_us: u64,
}

impl Default for JumpBound {
    fn default() -> Self {
        Self { forward_us: 10_000_000, backward_us: 1_000_000 }
    }
}

impl JumpBound {
    /// Whether event time going from `from` to `to` is a glitch.
    pub fn is_jump(&self, from: u64, to: u64) -> bool {
        to > from.saturating_add(self.forward_us) || to.saturating_add(self.backward_us) < from
    }

    /// The index of the first event of `events` that jumps from the one before it (the first
    /// from `clock`: the time the stream has reached), if any.
    pub fn first_jump(&self, clock: Option<u64>, events: &[Event]) -> Option<usize> {
        let mut prev = clock;
        for (i, e) in events.iter().enumerate() {
            if prev.is_some_and(|p| self.is_jump(p, e.t)) {
                return Some(i);
            }
            prev = Some(e.t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_future_and_backward_resets_are_jumps_small_steps_are_not() {
        let b = JumpBound::default();
        let ev = |t| Event::new(t, 0, 0, true);
        assert!(!b.is_jump(1_000, 2_000) && !b.is_jump(2_000, 1_500));
        assert!(b.is_jump(1_000, 1 << 40));
        assert!(b.is_jump(5_000_000, 10));
        assert_eq!(b.first_jump(Some(100), &[ev(200), ev(1 << 40), ev(300)]), Some(1));
        assert_eq!(b.first_jump(Some(1 << 40), &[ev(300), ev(400)]), Some(0));
        assert_eq!(b.first_jump(None, &[ev(1 << 40)]), None);
    }
}
