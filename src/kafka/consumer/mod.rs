//! `sink --brokers`: a consumer-group member that feeds a [`Sink`] and commits only what the store
//! holds.
//!
//! # Offsets
//!
//! Auto-commit is off. After a batch is durably stored (its rejects acknowledged by the DLQ topic
//! first), the partition's position in the sink ([`Sink::committed`]) moves past it, and this
//! driver commits exactly that position, for partitions it still owns. A crash between the store
//! write and the commit is harmless: the next owner recovers the partition from the store and skips
//! what is already there.
//!
//! # Rebalances
//!
//! librdkafka runs the rebalance callbacks inside the consumer's poll, on this task, between two
//! messages; the callbacks record what changed and the loop acts on it before the next message:
//!
//! - **Revoked**: the partition leaves the owned set at once (so no later commit names it), and its
//!   open batch is dropped unstored; the next owner reads those messages again from the committed
//!   offset.
//! - **Assigned**: before any of its messages is fed to the sink, the partition is recovered from
//!   the store (where stored batches end; orphaned DLQ objects are removed). The store, not the
//!   group, says where a partition resumes: messages the store already holds are skipped, and if
//!   the group's committed offset is past the store's position (a store restored from a backup, a
//!   new store for an old group), the consumer is moved back to it. The group's offsets are the
//!   store's position published for Kafka's tools (lag, monitoring).
//!
//! # A slow or failing store
//!
//! The sink is built with caller backpressure ([`Sink::with_caller_backpressure`]): before each
//! message the driver asks whether a batch could be flushed now without exceeding the writes in
//! flight. A short wait for the oldest write happens in place; past two seconds the driver pauses
//! its whole assignment and keeps polling, so that librdkafka's `max.poll.interval.ms` (5 minutes)
//! never expels it while its writes are retried, rebalance callbacks still run, and batches that
//! become durable are still committed. Pausing makes librdkafka drop what it had fetched but not
//! handed over and later resume after the last message it handed over, so nothing the sink took is
//! lost or read twice (a message that arrives anyway is dropped and its partition moved back to
//! it). Partitions assigned while paused are paused too. The shutdown's last writes are awaited
//! the same way. Not covered: a rebalance during an outage waits inside its callback for the
//! revoked partitions' writes (up to two minutes, then the process exits without committing
//! them), and an assignment waits for the store to list the new partitions; the consumer is not
//! polled meanwhile.
//!
//! # Shutdown
//!
//! On SIGTERM / Ctrl-C (or after `--idle-exit` without messages) every open batch is flushed, the
//! positions are committed synchronously, and the consumer leaves the group.
//!
//! # Layout
//!
//! - `driver.rs`: the one event loop, whose pause is a state of it (consuming, waiting for room,
//!   draining at shutdown), with a named handler per event; the commits.
//! - `group.rs`: the rebalance callbacks, the one owned partition set, and what the loop does
//!   with a rebalance (release, recover, seek).
//! - `lag.rs`: the lag metric from librdkafka's statistics, and the watermarks asked for while
//!   paused.
//! - `failpoint.rs`: `abort-before-commit`.

mod driver;
mod failpoint;
mod group;
mod lag;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};

use crate::runtime::Shutdown;
use crate::sink::Sink;

use super::{KafkaSettings, describe};
use driver::Driver;
use group::GroupContext;

/// Which topic, which group, and when to stop.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub group: String,
    /// Stop (flush, commit, exit) once no message arrived for this long after the first
    /// assignment.
    pub idle_exit: Option<Duration>,
    /// librdkafka's prefetch queue (`queued.max.messages.kbytes`; fetches are capped to it too).
    pub prefetch_kbytes: u64,
}

impl ConsumerSettings {
    /// How long a revocation may wait for writes: half the rebalance timeout, at most
    /// [`REVOKE_WAIT_MAX`].
    fn revoke_wait(&self) -> Duration {
        let max_poll_interval = self
            .kafka
            .extra
            .iter()
            .rev()
            .find(|(key, _)| key == "max.poll.interval.ms")
            .and_then(|(_, value)| value.trim().parse().ok())
            .map_or(MAX_POLL_INTERVAL_DEFAULT, Duration::from_millis);
        (max_poll_interval / 2).min(REVOKE_WAIT_MAX)
    }

    fn client_config(&self) -> ClientConfig {
        let prefetch = self.prefetch_kbytes.to_string();
        self.kafka.client_config(&[
            ("queued.max.messages.kbytes", &prefetch),
            // Once the queue is full, librdkafka postpones a partition's next fetch by this much
            // (1 s by default): with a queue sized to the memory budget that idled the sink for
            // most of each second (55k records/s; 270k with 20 ms, same machine).
            ("fetch.queue.backoff.ms", "20"),
            ("group.id", &self.group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            // A member that stops without leaving is noticed within this.
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            // The lag metric's source (see `GroupContext::stats`).
            ("statistics.interval.ms", "1000"),
        ])
    }
}

/// What the consumer did, beside the sink's own stats.
#[derive(Debug, Clone, Default)]
pub struct ConsumeReport {
    pub messages: u64,
    pub commits: u64,
    pub assignments: u64,
    pub revocations: u64,
    /// Partitions owned at the end, with the committed offset of each.
    pub committed: BTreeMap<u32, u64>,
    /// From the first message to the last (the consume rate's time base).
    pub active: Duration,
    /// Times consumption was paused because the store was not taking batches, and for how long
    /// in all.
    pub pauses: u64,
    pub paused: Duration,
}

/// How long a revocation waits at most for the revoked partitions' writes (a store outage can make
/// them slow). Past it the process exits rather than let the group hand the partitions on while a
/// write of theirs is still being retried. The callback blocks the thread that polls the consumer
/// (the `block_on` thread in `netchaos sink`), never a runtime worker, so the writes it waits for
/// keep running.
///
/// It must end well inside the rebalance timeout, which librdkafka sets to `max.poll.interval.ms`:
/// the coordinator waits that long for a member to rejoin, then drops it and hands its partitions
/// to the others, whose recovery could list the store before this member's late write lands (seen
/// with `max.poll.interval.ms=10000` and a 20 s outage: records stored twice). Hence half of it.
const REVOKE_WAIT_MAX: Duration = Duration::from_secs(120);

/// librdkafka's default `max.poll.interval.ms`.
const MAX_POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);

/// Consumes `settings.topic` into `sink` until `shutdown` is requested (or `idle_exit` passes), then
/// flushes and commits. The sink must be built [with caller
/// backpressure](Sink::with_caller_backpressure).
pub async fn consume(settings: &ConsumerSettings, sink: &mut Sink, shutdown: &Shutdown) -> anyhow::Result<ConsumeReport> {
    // The driver waits for room itself, polling the consumer meanwhile: a sink that waited inside
    // its flushes would stop the polling for as long as a store outage lasts.
    anyhow::ensure!(sink.has_caller_backpressure(), "the Kafka consumer needs a sink built with caller backpressure");
    let context = GroupContext::new(&settings.topic, sink.writes_in_flight(), settings.revoke_wait(), sink.metrics().clone());
    let consumer: StreamConsumer<GroupContext> = settings
        .client_config()
        .create_with_context(context)
        .map_err(|error| anyhow::anyhow!("cannot create the Kafka consumer: {}", describe(&error)))?;
    consumer
        .subscribe(&[&settings.topic])
        .map_err(|error| anyhow::anyhow!("cannot subscribe to `{}`: {}", settings.topic, describe(&error)))?;
    let mut driver = Driver::new(settings, &consumer);
    driver.run(sink, shutdown).await?;
    Ok(driver.into_report())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> ConsumerSettings {
        ConsumerSettings {
            kafka: KafkaSettings {
                brokers: "127.0.0.1:9".into(),
                extra: extra.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            },
            topic: "t".into(),
            group: "g".into(),
            idle_exit: None,
            prefetch_kbytes: 1024,
        }
    }

    #[test]
    fn a_revocation_waits_at_most_half_the_rebalance_timeout() {
        assert_eq!(settings(&[]).revoke_wait(), Duration::from_secs(120), "300 s by default: capped at 120 s");
        assert_eq!(settings(&[("max.poll.interval.ms", "10000")]).revoke_wait(), Duration::from_secs(5));
        let twice = settings(&[("max.poll.interval.ms", "10000"), ("max.poll.interval.ms", "60000")]);
        assert_eq!(twice.revoke_wait(), Duration::from_secs(30), "the last setting wins, as in librdkafka");
    }
}
