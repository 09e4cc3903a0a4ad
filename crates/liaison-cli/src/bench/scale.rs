//! `liaison bench --catch-up N` and `--log-size N`: how a node behaves after a long
//! outage and as its log grows.
//!
//! - Catch-up: N bulletins are queued for a partner that is down, then it starts; the
//!   drain is timed, checked exactly once and in order, and the process's RSS sampled.
//! - Log size: publish rate and the latency of every query path (`status`, `bulletin
//!   list --limit 50`, a client API `List` page, a `Subscribe` resume) on a near-empty
//!   log, then again after the log is filled to N entries; and `log verify`'s rate.
//!   Publishing is measured over 20,000 bulletins each time. The fill appends copies of a real sealed bulletin and receipt-sized entries
//!   straight to the log in large batches (the publish path would take hours for
//!   10M); everything measured afterwards goes through the node's real paths.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_node::node::state::NodeState;
use liaison_node::ops::bulletins::{self, Filter, views};
use liaison_store::{EntryKind, ListingScope, NewEntry};

use super::{Failures, request, start_federation};
use crate::output;

/// Resident memory of this process, MiB.
fn rss_mib() -> f64 {
    super::rss_mib_of("self").unwrap_or(0.0)
}

/// Publishes `n` bulletins to `to` from `in_flight` threads; returns the time taken.
fn publish(
    sender: &Arc<NodeState>,
    to: &AgencyId,
    n: usize,
    in_flight: usize,
    size: usize,
) -> Result<Duration> {
    let failures = Failures::default();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for p in 0..in_flight {
            let (sender, failures) = (sender.clone(), &failures);
            let to = vec![to.clone()];
            scope.spawn(move || {
                for _ in (p..n).step_by(in_flight) {
                    let sent =
                        request(&to, size).and_then(|r| Ok(views::bulletin_send(&sender, r)?));
                    if let Err(e) = sent {
                        failures.record(e);
                    }
                }
            });
        }
    });
    failures.check(n)?;
    Ok(start.elapsed())
}

/// The bulletin ids of `state`'s listed entries of `kind`, in log order.
fn listed_ids(state: &NodeState, kind: EntryKind) -> Result<Vec<BulletinId>> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = state.log.listings(
            &ListingScope {
                origins: &[],
                after,
                before: u64::MAX,
                newest_first: false,
                limit: 100_000,
                budget: 100_000,
            },
            &mut |row| row.kind == kind,
        )?;
        for row in &page.rows {
            if let Some(id) = state.log.get(row.seq)?.and_then(|e| e.bulletin_id) {
                ids.push(id);
            }
        }
        match (page.exhausted, page.last) {
            (false, Some(last)) => after = last,
            _ => return Ok(ids),
        }
    }
}

/// `liaison bench --catch-up N`.
pub(super) fn catch_up(
    base: &std::path::Path,
    n: usize,
    in_flight: usize,
    size: usize,
) -> Result<()> {
    let mut federation = start_federation(base, 1, 0)?;
    let sender = federation.sender.clone();
    let to = federation.receivers[0].clone();
    let idle = rss_mib();
    output::line(format_args!(
        "\nCatch-up (1 sender and 1 receiving node in this process; the receiver is down while {n} bulletins of {size} B are queued for it):"
    ))?;
    let queued = publish(&sender, &to, n, in_flight, size)?;
    output::line(format_args!(
        "  queued {n} in {:.1} s ({:.0}/s); outbox {} entries; RSS {:.0} MiB (idle before: {:.0} MiB)",
        queued.as_secs_f64(),
        n as f64 / queued.as_secs_f64(),
        sender.log.outbox_len(&to),
        rss_mib(),
        idle
    ))?;
    let start = Instant::now();
    federation.start_stopped()?;
    let mut peak = 0f64;
    let mut first = None;
    while sender.log.outbox_len(&to) > 0 {
        if first.is_none() && sender.log.outbox_len(&to) < n {
            first = Some(start.elapsed());
        }
        peak = peak.max(rss_mib());
        if start.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("the outbox did not drain in an hour");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = start.elapsed();
    let sent = listed_ids(&sender, EntryKind::Published)?;
    let received = listed_ids(&federation.first_receiver, EntryKind::Received)?;
    let exactly_once_in_order = sent == received;
    output::line(format_args!(
        "  drained {n} in {:.1} s after the receiver started ({:.0} bulletins/s; first receipt after {:.2} s); peak RSS during catch-up {:.0} MiB; received exactly once and in order: {}",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        first.unwrap_or(took).as_secs_f64(),
        peak,
        if exactly_once_in_order { "yes" } else { "NO" }
    ))?;
    federation.stop()?;
    if !exactly_once_in_order {
        anyhow::bail!(
            "the receiver holds {} bulletins, the sender published {}: not exactly once in order",
            received.len(),
            sent.len()
        );
    }
    Ok(())
}

/// The median of `runs` timings of `f`, milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// What one size of log measured.
struct SizeFigures {
    entries: u64,
    publish_per_second: f64,
    status_ms: f64,
    list_ms: f64,
    api_page_ms: f64,
    resume_ms: f64,
}

fn measure(
    sender: &Arc<NodeState>,
    to: &AgencyId,
    in_flight: usize,
    size: usize,
) -> Result<SizeFigures> {
    // Long enough to include sled's page writes and cleaning, not just a burst into
    // its cache.
    let n = 20_000;
    let took = publish(sender, to, n, in_flight, size)?;
    let entries = sender.log.head().seq;
    let status_ms = median_ms(5, || {
        liaison_node::ops::status::status(sender)?;
        Ok(())
    })?;
    let newest = Filter {
        newest_first: true,
        ..Filter::default()
    };
    let list_ms = median_ms(5, || {
        let listed = views::bulletin_list(sender, &newest, 50)?;
        anyhow::ensure!(listed.len() == 50, "listed {}", listed.len());
        Ok(())
    })?;
    // A page of 100 from the middle of the log, with every entry about each bulletin
    // read as the API's views read them.
    let middle = entries / 2;
    let api_page_ms = median_ms(5, || {
        let (page, _, _) = bulletins::page(sender, &Filter::default(), middle, 100)?;
        for stored in &page {
            sender
                .log
                .entries_for_bulletin(&stored.header().bulletin_id)?;
        }
        anyhow::ensure!(page.len() == 100, "paged {}", page.len());
        Ok(())
    })?;
    // A subscriber coming back 1,000 entries behind the head.
    let resume_ms = median_ms(5, || {
        bulletins::feed(sender, &Filter::default(), entries - 1000, 256, true)?;
        Ok(())
    })?;
    Ok(SizeFigures {
        entries,
        publish_per_second: n as f64 / took.as_secs_f64(),
        status_ms,
        list_ms,
        api_page_ms,
        resume_ms,
    })
}

fn print(label: &str, f: &SizeFigures) -> Result<()> {
    output::line(format_args!(
        "  {label:<6} {:>10} entries: publish {:>6.0}/s; status {:>6.2} ms; bulletin list --limit 50 {:>6.2} ms; List page of 100 {:>6.2} ms; Subscribe resume {:>6.2} ms; RSS {:.0} MiB",
        f.entries,
        f.publish_per_second,
        f.status_ms,
        f.list_ms,
        f.api_page_ms,
        f.resume_ms,
        rss_mib()
    ))
}

/// Appends copies of the sender's first published bulletin (new ids) and as many
/// receipt-sized entries about the partner, in large batches, until the log holds `n`
/// entries.
fn fill(sender: &NodeState, to: &AgencyId, n: u64) -> Result<Duration> {
    let template = sender
        .log
        .range(1, 10_000)?
        .into_iter()
        .find(|e| e.kind == EntryKind::Published)
        .context("no published bulletin to copy")?;
    let body = sender
        .log
        .body(&template)?
        .context("the template was erased")?;
    let receipt = bytes::Bytes::from(vec![0x5a; 180]);
    let start = Instant::now();
    let mut millis = UnixMillis::now().0;
    let mut pending = std::collections::VecDeque::new();
    while sender.log.head().seq + (pending.len() as u64 * 2000) < n {
        let mut batch = Vec::with_capacity(2000);
        for _ in 0..1000 {
            millis += 1;
            batch.push(
                NewEntry::new(EntryKind::Published, body.clone())
                    .about_bulletin(BulletinId::new(UnixMillis(millis))),
            );
            batch.push(NewEntry::new(EntryKind::Receipt, receipt.clone()).about_agency(to.clone()));
        }
        pending.push_back(sender.log.submit(batch));
        // A few batches in flight keep the writer busy without holding them all.
        while pending.len() > 4 {
            if let Some(p) = pending.pop_front() {
                p.wait()?;
            }
        }
    }
    for p in pending {
        p.wait()?;
    }
    Ok(start.elapsed())
}

/// `liaison bench --log-size N`.
pub(super) fn log_size(
    base: &std::path::Path,
    n: u64,
    in_flight: usize,
    size: usize,
) -> Result<()> {
    let federation = start_federation(base, 1, 0)?;
    let sender = federation.sender.clone();
    let to = federation.receivers[0].clone();
    output::line(format_args!(
        "\nLog size (1 node; publishes queue for a partner that is down; medians of 5 runs):"
    ))?;
    let empty = measure(&sender, &to, in_flight, size)?;
    print("empty", &empty)?;
    let took = fill(&sender, &to, n)?;
    let disk = liaison_store::durability::dir_size(base);
    output::line(format_args!(
        "  filled to {} entries in {:.0} s ({:.0} entries/s straight to the log); data on disk {:.2} GiB ({:.0} B per entry, both nodes)",
        sender.log.head().seq,
        took.as_secs_f64(),
        (sender.log.head().seq - empty.entries) as f64 / took.as_secs_f64(),
        disk as f64 / (1u64 << 30) as f64,
        disk as f64 / sender.log.head().seq as f64
    ))?;
    let full = measure(&sender, &to, in_flight, size)?;
    print("full", &full)?;
    output::line(format_args!(
        "  publish rate at {} entries is {:.0}% of the empty log's",
        full.entries,
        full.publish_per_second * 100.0 / empty.publish_per_second
    ))?;
    let node = sender.node();
    let started = Instant::now();
    let verified = liaison_node::ops::log::verify_log(
        &node,
        &sender.log,
        liaison_store::VerifyOptions::default(),
        &mut |_| {},
    )?;
    output::line(format_args!(
        "  log verify: {} entries in {:.1} s: {:.0} entries/s ({} cores)",
        verified.entries,
        started.elapsed().as_secs_f64(),
        verified.entries as f64 / started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ))?;
    let started = Instant::now();
    let incremental = liaison_node::ops::log::verify_log(
        &node,
        &sender.log,
        liaison_store::VerifyOptions {
            since_checkpoint: true,
            indexes: false,
        },
        &mut |_| {},
    )?;
    output::line(format_args!(
        "  log verify --since-checkpoint right after: {} entries checked in {:.3} s",
        incremental.checked,
        started.elapsed().as_secs_f64()
    ))?;
    federation.stop()
}

/// `liaison bench --partner-down N`: 30 partners, one of them down with N bulletins
/// queued for it (86,400 is a day at 1/s). Latency to a partner that is up is measured
/// before the backlog exists and while it waits; then the partner returns and its
/// drain is timed.
pub(super) fn partner_down(
    base: &std::path::Path,
    queued: usize,
    options: &super::BenchOptions,
) -> Result<()> {
    const PARTNERS: usize = 30;
    let mut federation = start_federation(base, PARTNERS, PARTNERS - 1)?;
    let sender = federation.sender.clone();
    let everyone = federation.receivers.clone();
    let down = everyone[PARTNERS - 1].clone();
    let up = &everyone[..PARTNERS - 1];
    // Low enough that 30 partners on 2 shared cores keep up: this is about one
    // partner's backlog touching the others, not about saturation.
    let rate = options.rate.min(20);
    // Warm up: every partner's first bulletin opens its epoch and its stream.
    for _ in 0..3 {
        views::bulletin_send(&sender, request(up, options.size)?)?;
    }
    while up.iter().any(|p| sender.log.outbox_len(p) > 0) {
        std::thread::sleep(Duration::from_millis(10));
    }
    output::line(format_args!(
        "\nOne partner down ({PARTNERS} partners in this process, {down} down; bulletins to all {PARTNERS} at {rate}/s while the others are timed):"
    ))?;
    let (_, before) =
        super::latency_to_first(&sender, up, rate, options.latency_seconds, options.size)?;
    let took = publish(&sender, &down, queued, options.in_flight, options.size)?;
    output::line(format_args!(
        "  queued {queued} for {down} in {:.1} s; its outbox: {} entries",
        took.as_secs_f64(),
        sender.log.outbox_len(&down)
    ))?;
    let (_, during) = super::latency_to_first(
        &sender,
        &everyone,
        rate,
        options.latency_seconds,
        options.size,
    )?;
    output::line(format_args!(
        "  p99 to a partner that is up: {before:.2} ms before the backlog, {during:.2} ms with {down} down and {} queued for it",
        sender.log.outbox_len(&down)
    ))?;
    let backlog = sender.log.outbox_len(&down);
    let start = Instant::now();
    federation.start_stopped()?;
    while sender.log.outbox_len(&down) > 0 {
        if start.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("{down}'s outbox did not drain in an hour");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = start.elapsed();
    output::line(format_args!(
        "  {down} back: {backlog} drained in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        backlog as f64 / took.as_secs_f64()
    ))?;
    federation.stop()
}
