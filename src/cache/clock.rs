//! The server clock (memcached's rel_time_t and process_started): seconds
//! since the process started, refreshed once a second by the event loop,
//! and the conversions between client expiry times, server time and unix
//! time. Everything that turns one into another goes through here.

/// Relative expiry times above this are absolute unix times (30 days).
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;
/// An item's LRU position is refreshed at most this often (seconds).
pub const ITEM_UPDATE_INTERVAL: u32 = 60;

/// Server time: seconds since the process started (memcached's rel_time_t),
/// refreshed by the event loop's one-second timer.
pub struct Clock {
    /// Seconds since `process_started`.
    pub current_time: u32,
    /// Unix time the relative clock counts from.
    pub process_started: i64,
    /// Seconds added by the debug command `debugtime`.
    pub offset: i64,
    /// Debug builds' frozen wall clock: when set, the unix time `tick`
    /// reads instead of the system's, so only `debugtime` moves the clock
    /// and a test's expected ages do not depend on when a second ends.
    pub frozen: Option<i64>,
}

impl Clock {
    pub fn new() -> Clock {
        // As memcached: start a little in the past so an item's time is
        // never 0 and the first update interval is already over.
        let now = unix_now();
        let mut c = Clock {
            current_time: 0,
            process_started: now - ITEM_UPDATE_INTERVAL as i64 - 2,
            offset: 0,
            frozen: None,
        };
        c.tick();
        c
    }

    /// Re-reads the wall clock.
    pub fn tick(&mut self) {
        let wall = self.frozen.unwrap_or_else(unix_now);
        let t = wall + self.offset - self.process_started;
        self.current_time = t.clamp(1, u32::MAX as i64) as u32;
    }

    /// The unix time now, as the server sees it.
    pub fn now_unix(&self) -> i64 {
        self.process_started + self.current_time as i64
    }

    /// Server time `rel` as unix time; 0 (never) stays 0.
    #[inline]
    pub fn to_unix(&self, rel: u32) -> i64 {
        if rel == 0 {
            0
        } else {
            self.process_started + rel as i64
        }
    }

    /// Unix time `abs` as server time, at least 1 (a time before the
    /// server started is already past); 0 (never) stays 0.
    #[inline]
    pub fn from_unix(&self, abs: i64) -> u32 {
        if abs == 0 {
            0
        } else {
            (abs - self.process_started).clamp(1, u32::MAX as i64) as u32
        }
    }

    /// Converts a client expiry (0: never; up to 30 days: relative; above:
    /// absolute unix time; negative: already expired) to server time.
    pub fn realtime(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            1
        } else if exptime > REALTIME_MAXDELTA {
            if exptime <= self.process_started {
                1
            } else {
                (exptime - self.process_started).min(u32::MAX as i64) as u32
            }
        } else {
            (exptime + self.current_time as i64).min(u32::MAX as i64) as u32
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_with_the_offset() {
        let mut c = Clock::new();
        let started = c.process_started;
        c.frozen = Some(started + 100);
        c.tick();
        assert_eq!(c.current_time, 100);
        c.tick();
        assert_eq!(c.current_time, 100);
        c.offset = 10;
        c.tick();
        assert_eq!((c.current_time, c.now_unix()), (110, started + 110));
        assert_eq!(c.from_unix(c.to_unix(42)), 42);
        assert_eq!((c.to_unix(0), c.from_unix(0), c.from_unix(1)), (0, 0, 1));
    }
}
