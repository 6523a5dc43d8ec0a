//! An instance's share of a limit that every function instance draws on and none can see the
//! others use: Identity Center's rate (see [`crate::aws::pace`]) and its assignment creations
//! in progress ([`Slots`]).
//!
//! Each instance is configured with its share (the limit divided by the instances), which it
//! always keeps, so busy instances together stay within the limit. A share alone leaves the
//! limit partly unused whenever another instance has less to do (between its batches, at the
//! end of a backfill), so an instance with more to do than its share allows borrows: its
//! share grows while what it sends is admitted, up to a ceiling (twice the share, at most the
//! limit), and each refusal (throttling, too many in progress) cuts it by a fifth
//! ([`BACKOFF`]), never below the share, and holds it for [`HOLD`]. Refusals are the only
//! signal instances share; they cost a retry, and the share is never given up.
//!
//! Borrowing is probing: while every instance is busy there is nothing to borrow, and each
//! probe costs the refused calls that find that out. So a probe refused close to the share
//! (the others are using theirs) doubles the hold before the next, up to [`MAX_HOLD`]; a
//! probe that got far (the others had left rate unused) brings it back to [`HOLD`]. Two busy
//! instances then probe every few seconds rather than every two, and a lone one still climbs
//! to the whole limit within `MAX_HOLD` and a few seconds.

use std::{
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use tokio::{
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};

/// How long a refused instance's share does not grow, after a probe that got far.
pub const HOLD: Duration = Duration::from_secs(2);
/// The longest hold, reached by probes refused close to the share one after another.
pub const MAX_HOLD: Duration = Duration::from_secs(4);
/// What a refused instance's share is multiplied by (never below its configured share). Not
/// straight back to the share: an instance using the whole limit alone is refused now and then
/// by the jitter of its own calls, and should lose little by it.
pub const BACKOFF: f64 = 0.8;
/// A request that had to wait within this long ago means there is more to send than the share
/// allows: only then does the share grow.
const BACKLOG: Duration = Duration::from_secs(1);

/// A share that borrows, as the module's doc describes.
#[derive(Debug)]
pub struct Share {
    floor: f64,
    ceiling: f64,
    /// What each admitted request adds.
    growth: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    value: f64,
    /// When a request last had to wait.
    backlog_at: Option<Instant>,
    /// No growth before this: the last refusal's hold.
    held_until: Option<Instant>,
    /// The hold the next refusal starts: [`HOLD`], doubled by each probe refused close to the
    /// share.
    hold: Duration,
}

impl Share {
    /// A share of `floor` of a service's `limit` that grows by `growth` per admitted request,
    /// up to twice `floor` and at most `limit`.
    pub fn new(floor: f64, limit: f64, growth: f64) -> Self {
        Self {
            floor,
            ceiling: (2.0 * floor).min(limit).max(floor),
            growth,
            state: Mutex::new(State {
                value: floor,
                backlog_at: None,
                held_until: None,
                hold: HOLD,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The share now.
    pub fn value(&self) -> f64 {
        self.state().value
    }

    /// A request had to wait at `now`.
    pub fn backlogged(&self, now: Instant) {
        self.state().backlog_at = Some(now);
    }

    /// A request was admitted at `now`: with more to send and no hold, the share grows.
    pub fn admitted(&self, now: Instant) -> f64 {
        let mut state = self.state();
        let backlogged = state
            .backlog_at
            .is_some_and(|at| now.duration_since(at) < BACKLOG);
        let held = state.held_until.is_some_and(|until| now < until);
        if backlogged && !held {
            state.value = (state.value + self.growth).min(self.ceiling);
        }
        state.value
    }

    /// A request was refused at `now`: the share falls by [`BACKOFF`] (not below the
    /// configured share) and is held, as the module's doc describes. Refusals within a hold
    /// (calls already sent when the first was refused) are the same probe's.
    pub fn refused(&self, now: Instant) -> f64 {
        let mut state = self.state();
        let new_probe = state.held_until.is_none_or(|until| now >= until);
        if new_probe {
            state.hold = if state.value * BACKOFF > self.floor {
                HOLD
            } else {
                (state.hold * 2).min(MAX_HOLD)
            };
        }
        state.value = (state.value * BACKOFF).max(self.floor);
        state.held_until = Some(now + state.hold);
        state.value
    }
}

/// Permits for operations that occupy the service while in progress (Identity Center's
/// assignment creations and deletions), as many as this instance's [`Share`] of them.
#[derive(Debug)]
pub struct Slots {
    share: Share,
    semaphore: Semaphore,
    permits: Mutex<Permits>,
}

#[derive(Debug)]
struct Permits {
    /// Permits in existence: free or held.
    total: usize,
    /// Held permits to retire when released, the share having shrunk below them.
    retire: usize,
}

/// A held slot; released when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    slots: &'a Slots,
    permit: Option<SemaphorePermit<'a>>,
}

impl Slots {
    /// `share` slots of the service's `limit`, borrowing as [`Share`] does; each admitted
    /// operation adds a quarter of a slot while others wait.
    pub fn new(share: usize, limit: usize) -> Self {
        Self {
            share: Share::new(share as f64, limit as f64, 0.25),
            semaphore: Semaphore::new(share),
            permits: Mutex::new(Permits {
                total: share,
                retire: 0,
            }),
        }
    }

    fn permits(&self) -> MutexGuard<'_, Permits> {
        self.permits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Slot<'_> {
        let permit = match self.semaphore.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.share.backlogged(Instant::now());
                self.semaphore
                    .acquire()
                    .await
                    .expect("the slots' semaphore is never closed")
            }
        };
        Slot {
            slots: self,
            permit: Some(permit),
        }
    }

    /// The service admitted an operation.
    pub fn admitted(&self) {
        self.resize(self.share.admitted(Instant::now()));
    }

    /// The service refused an operation: too many in progress.
    pub fn refused(&self) {
        self.resize(self.share.refused(Instant::now()));
    }

    /// Slots in existence now.
    pub fn total(&self) -> usize {
        let permits = self.permits();
        permits.total - permits.retire
    }

    fn resize(&self, share: f64) {
        let want = share.floor() as usize;
        let mut permits = self.permits();
        let have = permits.total - permits.retire;
        if want > have {
            // Un-retire first, then new permits.
            let back = permits.retire.min(want - have);
            permits.retire -= back;
            let add = want - have - back;
            permits.total += add;
            self.semaphore.add_permits(add);
        } else if want < have {
            let excess = have - want;
            let forgotten = self.semaphore.forget_permits(excess);
            permits.total -= forgotten;
            permits.retire += excess - forgotten;
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut permits = self.slots.permits();
        if permits.retire > 0 {
            permits.retire -= 1;
            permits.total -= 1;
            permit.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_backlogged_share_grows_to_its_ceiling_and_each_refusal_cuts_it_down_to_the_floor() {
        let share = Share::new(10.0, 20.0, 0.5);
        let t0 = Instant::now();
        // Admitted without a backlog: nothing is borrowed.
        assert_eq!(share.admitted(t0), 10.0);
        // With a backlog: it grows, to the ceiling and no further.
        share.backlogged(t0);
        for i in 0..100 {
            share.admitted(t0 + MS(i));
        }
        assert_eq!(share.value(), 20.0);
        // A refusal: a fifth less. Past its hold, a backlog more than a second old does not
        // count.
        assert!(close(share.refused(t0 + MS(100)), 16.0));
        let t1 = t0 + MS(100) + HOLD;
        assert!(close(share.admitted(t1), 16.0));
        // A refusal holds it, however many admissions follow.
        share.backlogged(t1);
        assert!(close(share.refused(t1), 12.8));
        for i in 0..50 {
            share.admitted(t1 + MS(i));
        }
        assert!(close(share.value(), 12.8));
        // Refusals go no lower than the floor; past the hold it grows again.
        assert!(close(share.refused(t1 + MS(100)), 10.24));
        assert_eq!(share.refused(t1 + MS(100)), 10.0);
        share.backlogged(t1 + MS(100) + HOLD);
        assert!(close(share.admitted(t1 + MS(100) + HOLD), 10.5));
    }

    #[test]
    fn probes_refused_close_to_the_share_hold_it_longer_and_a_probe_that_got_far_resets_the_hold() {
        let share = Share::new(10.0, 20.0, 0.5);
        let t0 = Instant::now();
        share.backlogged(t0);
        // Refused a little above the share (another instance uses its own): held twice as
        // long, then again, up to MAX_HOLD.
        let mut at = t0;
        for hold in [2 * HOLD, 4 * HOLD, 8 * HOLD].map(|h| h.min(MAX_HOLD)) {
            share.admitted(at);
            assert_eq!(share.refused(at), 10.0);
            // A refusal within the hold is the same probe's: the hold is not doubled again.
            share.refused(at + MS(10));
            let until = at + MS(10) + hold;
            share.backlogged(until - MS(1));
            assert_eq!(share.admitted(until - MS(1)), 10.0, "held for {hold:?}");
            assert_eq!(share.admitted(until), 10.5);
            at = until;
        }
        // A probe that got far (the others left rate unused): back to HOLD.
        for i in 0..20 {
            share.admitted(at + MS(i));
        }
        assert_eq!(share.value(), 20.0);
        let at = at + MS(100);
        assert!(close(share.refused(at), 16.0));
        share.backlogged(at + HOLD);
        assert!(close(share.admitted(at + HOLD), 16.5));
    }

    #[tokio::test]
    async fn slots_grow_while_others_wait_and_shrink_by_retiring_held_ones() {
        let slots = Slots::new(2, 4);
        let a = slots.acquire().await;
        let b = slots.acquire().await;
        // A third waits: a backlog.
        assert!(tokio::time::timeout(MS(20), slots.acquire()).await.is_err());
        // Four admissions while others wait: a slot more (a quarter each).
        for _ in 0..4 {
            slots.admitted();
        }
        assert_eq!(slots.total(), 3);
        let c = tokio::time::timeout(MS(20), slots.acquire())
            .await
            .expect("the borrowed slot");
        // A refusal with every slot held: 3 x 0.8 = 2.4, so one held slot is retired when
        // released, not handed on.
        slots.refused();
        assert_eq!(slots.total(), 2);
        drop(c);
        assert!(
            tokio::time::timeout(MS(20), slots.acquire()).await.is_err(),
            "the released slot was retired"
        );
        drop(a);
        let _d = tokio::time::timeout(MS(20), slots.acquire())
            .await
            .expect("a slot of the share");
        drop(b);
        assert_eq!(slots.total(), 2);
    }
}
