//! The lag metric: per owned partition, the records between what the store holds (the committed
//! offset) and the partition's high watermark, from librdkafka's statistics; while consumption is
//! paused, from watermarks the driver asks the brokers for, so that the lag keeps growing during
//! a store outage.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{ClientContext, Statistics};

use super::describe;
use super::driver::Driver;
use super::group::GroupContext;

/// While paused, how often the high watermarks are asked for, and how long each answer may take.
pub(super) const WATERMARKS_WHILE_PAUSED: Duration = Duration::from_secs(2);
const WATERMARK_TIMEOUT: Duration = Duration::from_millis(500);

/// A partition's lag as librdkafka's statistics show it: records between the committed offset
/// (what the store holds) and the high watermark; from the log start before anything is
/// committed. None for a partition this member does not own, or before its offsets are known
/// (librdkafka reports -1 or -1001 then).
fn partition_lag(owned: bool, high_watermark: i64, committed: i64, log_start: i64) -> Option<i64> {
    let from = if committed >= 0 { committed } else { log_start };
    (owned && high_watermark >= 0 && from >= 0).then(|| (high_watermark - from).max(0))
}

impl ClientContext for GroupContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, delivered by the polls the driver
    /// makes anyway): the lag of each partition this member owns is its high watermark minus the
    /// committed offset (what the store holds), or minus the log start before any commit. A
    /// partition no longer owned loses its series. The high watermark comes with fetch responses;
    /// while consumption is paused the driver asks the brokers for it instead
    /// ([`Driver::refresh_watermarks`]), so that the lag keeps growing during a store outage.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        let owned = self.owned();
        let asked = self.watermarks.lock().map(|asked| asked.clone()).unwrap_or_default();
        let mut total = 0;
        for (number, partition) in &topic.partitions {
            let Ok(id) = u32::try_from(*number) else { continue };
            let high_watermark = partition.hi_offset.max(asked.get(number).copied().unwrap_or(-1));
            let lag = partition_lag(owned.contains(&id), high_watermark, partition.committed_offset, partition.lo_offset);
            total += lag.unwrap_or(0);
            self.metrics.set_lag(&self.topic, *number, lag);
        }
        self.metrics.set_total_lag(total);
    }
}

impl Driver<'_> {
    /// Asks the brokers for the high watermark of each owned partition, for the lag metric while
    /// paused. A blocking round trip per partition, with a short timeout, every few seconds of a
    /// pause, on the driver's thread (the writes it waits for run on the runtime's workers).
    pub(super) fn refresh_watermarks(&self) {
        let context = self.consumer.context();
        for partition in context.owned() {
            let Ok(partition) = i32::try_from(partition) else { continue };
            match self.consumer.fetch_watermarks(&self.settings.topic, partition, WATERMARK_TIMEOUT) {
                Ok((_, high)) => {
                    if let Ok(mut asked) = context.watermarks.lock() {
                        asked.insert(partition, high);
                    }
                }
                Err(error) => tracing::debug!(partition, error = %describe(&error), "cannot read the high watermark"),
            }
        }
    }

    /// Forgets the watermarks asked for: fetches bring them again once consumption resumes.
    pub(super) fn forget_watermarks(&self) {
        if let Ok(mut asked) = self.consumer.context().watermarks.lock() {
            asked.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_log_start_for_owned_partitions_only() {
        assert_eq!(partition_lag(true, 1_000, 400, 0), Some(600));
        assert_eq!(partition_lag(true, 1_000, -1001, 250), Some(750), "nothing committed yet: from the log start");
        assert_eq!(partition_lag(true, 1_000, 1_000, 0), Some(0));
        assert_eq!(partition_lag(true, 900, 1_000, 0), Some(0), "a watermark older than the commit is no lag");
        assert_eq!(partition_lag(false, 1_000, 400, 0), None, "not owned: no series");
        assert_eq!(partition_lag(true, -1, 400, 0), None, "watermark unknown");
        assert_eq!(partition_lag(true, 1_000, -1001, -1), None, "log start unknown");
    }
}
