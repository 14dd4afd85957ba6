//! `GET /metrics`: Prometheus text exposition, kept by hand (a few counters, gauges and
//! two histograms do not need a metrics framework).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, n) in BUCKETS.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, n) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

/// What one engine reports of itself, as it is now.
#[derive(Debug, Default)]
pub(crate) struct EngineGauges {
    active: AtomicU64,
    kv_capacity: AtomicU64,
    kv_reserved: AtomicU64,
    kv_used: AtomicU64,
}

impl EngineGauges {
    pub(crate) fn set_active(&self, n: usize) {
        self.active.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_kv(&self, capacity: usize, reserved: usize, used: usize) {
        self.kv_capacity.store(capacity as u64, Ordering::Relaxed);
        self.kv_reserved.store(reserved as u64, Ordering::Relaxed);
        self.kv_used.store(used as u64, Ordering::Relaxed);
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    cancelled: AtomicU64,
    panics: AtomicU64,
    rewinds: AtomicU64,
    steps: AtomicU64,
    step_rows: AtomicU64,
    /// One per engine (a model each); the gauges are their sums.
    engines: Mutex<Vec<Arc<EngineGauges>>>,
    ttft: Mutex<Histogram>,
    itl: Mutex<Histogram>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn count_request(&self, endpoint: &str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((endpoint.to_string(), status)).or_default() += 1;
    }

    pub(crate) fn add_tokens_in(&self, n: u64) {
        self.tokens_in.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_tokens_out(&self, n: u64) {
        self.tokens_out.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_panic(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_rewind(&self) {
        self.rewinds.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_step(&self, rows: usize) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.step_rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Gauges for one more engine, counted into the totals.
    pub(crate) fn engine_gauges(&self) -> Arc<EngineGauges> {
        let gauges = Arc::new(EngineGauges::default());
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        engines.push(gauges.clone());
        gauges
    }

    fn engine_total(&self, gauge: fn(&EngineGauges) -> &AtomicU64) -> u64 {
        let engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        engines
            .iter()
            .map(|e| gauge(e).load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn observe_ttft(&self, d: Duration) {
        let mut h = self.ttft.lock().unwrap_or_else(|e| e.into_inner());
        h.observe(d.as_secs_f64());
    }

    pub(crate) fn observe_itl(&self, d: Duration) {
        let mut h = self.itl.lock().unwrap_or_else(|e| e.into_inner());
        h.observe(d.as_secs_f64());
    }

    /// Sequences cancelled because their client went away.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The exposition text, with the current queue depth.
    pub fn render(&self, queued: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP dial_requests_total Requests answered, by endpoint and status.\n");
        out.push_str("# TYPE dial_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((endpoint, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "dial_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        drop(requests);
        let counters = [
            (
                "dial_prompt_tokens_total",
                "Prompt tokens admitted.",
                &self.tokens_in,
            ),
            (
                "dial_generated_tokens_total",
                "Tokens generated.",
                &self.tokens_out,
            ),
            (
                "dial_cancelled_total",
                "Sequences dropped because their client went away.",
                &self.cancelled,
            ),
            (
                "dial_panics_total",
                "Sequences failed by a panic inside dial.",
                &self.panics,
            ),
            (
                "dial_rewinds_total",
                "Times banned_strings rolled a sequence back to where a phrase began.",
                &self.rewinds,
            ),
            (
                "dial_engine_steps_total",
                "Forward passes the engine ran (each over every active sequence).",
                &self.steps,
            ),
            (
                "dial_engine_step_rows_total",
                "Token rows those passes ran: decode tokens and prefill chunks.",
                &self.step_rows,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP dial_queue_depth Requests waiting for the engine.\n# TYPE dial_queue_depth gauge\ndial_queue_depth {queued}"
        );
        let _ = writeln!(
            out,
            "# HELP dial_active_sequences Sequences the engines are stepping.\n# TYPE dial_active_sequences gauge\ndial_active_sequences {}",
            self.engine_total(|e| &e.active)
        );
        for (name, help, value) in [
            (
                "dial_kv_cache_capacity_bytes",
                "The KV cache pools (--kv-cache-mb per model).",
                (|e| &e.kv_capacity) as fn(&EngineGauges) -> &AtomicU64,
            ),
            (
                "dial_kv_cache_reserved_bytes",
                "KV cache set aside for the active sequences' worst case.",
                |e| &e.kv_reserved,
            ),
            (
                "dial_kv_cache_used_bytes",
                "KV cache the active sequences hold now.",
                |e| &e.kv_used,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                self.engine_total(value)
            );
        }
        self.ttft.lock().unwrap_or_else(|e| e.into_inner()).render(
            &mut out,
            "dial_time_to_first_token_seconds",
            "From queued to first token.",
        );
        self.itl.lock().unwrap_or_else(|e| e.into_inner()).render(
            &mut out,
            "dial_inter_token_seconds",
            "Between consecutive tokens of a sequence.",
        );
        out
    }
}
