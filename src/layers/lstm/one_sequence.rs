//! One sequence through an LSTM at inference, on two threads.
//!
//! A single sequence's step is one row times the (units, 4*units) recurrent kernel: the
//! whole kernel streams through the core's L2 every step (256 KiB at 128 units, ~1.2 us
//! on one Zen 5 core with `small_gemm`'s one-row kernel), which is most of a `predict`
//! call's latency. Here each thread owns half the units -- their columns of all four
//! gates, their part of c and h -- so it reads half the kernel, from its own core's L2,
//! and the two exchange only their halves of h after each step (c never leaves its
//! thread).
//!
//! (Tried: part 0 summing its own h into every column and handing part 1 the partial
//! sums of its columns, so that each product term is computed once instead of part 1
//! waiting for all of h. Same bits, but slower: the partial sums are 4 (u - s) floats,
//! 11 cache lines per step at 128 units, and moving them between the cores cost more
//! than the product it saved.)
//!
//! Bit-identical to `chunk_infer`: every pre-activation is the same bias plus in-order
//! sum (`small_gemm` sums each column over k in order, whatever the width) and every
//! gate the same element-wise arithmetic; only which core computes it changes.
//!
//! No thread ever waits for one that may not be running: the calling thread starts
//! alone on the whole layer, and a helper (the second half of a `rayon::join`) that
//! gets a thread claims the second half of the units; the caller hands them over at
//! the next step boundary. A helper that starts after the caller finished finds the
//! work done and returns.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::infer::{PROJECTION_STEPS, StepInputs};
use crate::kernels::{lstm_forward_row, small_gemm};

/// Below this many units the kernel fits the L1/L2 of one core and the per-step
/// exchange costs more than the halved product saves.
const MIN_UNITS: usize = 64;

/// Whether `lstm::infer` should run this batch here.
pub(super) fn splits(batch: usize, units: usize) -> bool {
    batch == 1 && units >= MIN_UNITS && rayon::current_num_threads() >= 2
}

/// Wakes a pool thread ahead of `infer`, for a caller with other work to do first
/// (checking the token projection cache: ~13 us at IMDB sizes): a thread that has
/// just run a job spins a while before it sleeps, so the helper job `infer` spawns is
/// claimed at once instead of after a wake-up, which the caller would spend computing
/// whole-layer steps at half speed.
pub(super) fn wake_helper() {
    rayon::spawn(|| ());
}

/// Where the units are split between the two threads, carried from call to call: the
/// two cores are rarely equally fast (other tenants, frequency), so after each call
/// the split moves a few units towards the part that waited, the faster one.
#[derive(Clone, Debug, Default)]
pub(super) struct Balance {
    /// The caller's units; 0 before the first call (half).
    lead_units: usize,
    /// Each thread's packed recurrent-kernel columns, kept across calls.
    packed: [Vec<f32>; 2],
}

/// Units moved per call.
const BALANCE_STEP: usize = 4;

impl Balance {
    fn split(&self, u: usize) -> usize {
        match self.lead_units {
            0 => u / 2,
            s => s.clamp(u / 4, u - u / 4),
        }
    }

    fn adjust(&mut self, u: usize, ex: &Exchange) {
        let [lead, helper] = ex.waited.each_ref().map(|w| w.0.load(Ordering::Relaxed));
        let split = self.split(u);
        // Waiting under 10% more than the other is balanced enough (noise).
        self.lead_units = if lead > helper + helper / 10 {
            split + BALANCE_STEP
        } else if helper > lead + lead / 10 {
            split - BALANCE_STEP
        } else {
            split
        }
        .clamp(u / 4, u - u / 4);
    }
}

/// The LSTM's inference forward for one sequence (`lstm::infer` with batch 1): the
/// output, (steps, u) with `seq` else (u).
pub(super) fn infer(
    inputs: StepInputs<'_>,
    step_mask: &[bool],
    steps: usize,
    (u, seq): (usize, bool),
    recurrent: &[f32],
    balance: &mut Balance,
) -> Vec<f32> {
    let job = Job {
        inputs,
        recurrent,
        step_mask,
        steps,
        u,
        seq,
        split: balance.split(u),
        earliest_handover: 0,
    };
    let exchange = Exchange::new(&job);
    let [lead_buffer, help_buffer] = &mut balance.packed;
    let (lead, helper) = rayon::join(
        || simd_lead(&job, &exchange, lead_buffer),
        || simd_help(&job, &exchange, help_buffer),
    );
    if helper.is_some() && lead.handover < steps {
        balance.adjust(u, &exchange);
    }
    assemble(&job, lead, helper)
}

/// The output from the parts: the caller's whole-layer steps before the handover,
/// then both halves.
fn assemble(job: &Job<'_>, lead: Lead, helper: Option<Output>) -> Vec<f32> {
    let (u, steps, seq) = (job.u, job.steps, job.seq);
    let Lead {
        whole,
        own,
        handover,
    } = lead;
    let mut out = vec![0.0f32; if seq { steps * u } else { u }];
    match (own, helper) {
        (Some(own), Some(other)) if handover < steps => {
            let (a, b) = (job.split, u - job.split);
            if seq {
                for (t, row) in out.chunks_mut(u).enumerate() {
                    if t < handover {
                        row.copy_from_slice(&whole.seq_out[t * u..(t + 1) * u]);
                    } else {
                        row[..a].copy_from_slice(&own.seq_out[t * a..(t + 1) * a]);
                        row[a..].copy_from_slice(&other.seq_out[t * b..(t + 1) * b]);
                    }
                }
            } else {
                out[..a].copy_from_slice(&own.h);
                out[a..].copy_from_slice(&other.h);
            }
        }
        _ if seq => out.copy_from_slice(&whole.seq_out),
        _ => out.copy_from_slice(&whole.h),
    }
    out
}

/// What both threads read.
struct Job<'a> {
    inputs: StepInputs<'a>,
    recurrent: &'a [f32],
    /// (steps) or empty: no mask.
    step_mask: &'a [bool],
    steps: usize,
    u: usize,
    seq: bool,
    /// Units `0..split` are the caller's, `split..u` the helper's.
    split: usize,
    /// The caller looks for the helper's claim from this step on (tests choose the
    /// handover step; 0 otherwise).
    earliest_handover: usize,
}

impl Job<'_> {
    fn active(&self, t: usize) -> bool {
        self.step_mask.is_empty() || self.step_mask[t]
    }
}

/// A cache line of its own (two, for the adjacent-line prefetcher), so that the two
/// threads' writes never contend for one line.
#[repr(align(128))]
#[derive(Default)]
struct Line<T>(T);

/// Floats of h per `TaggedFloats` line; the line's last word is its tag.
const TAGGED_FLOATS: usize = 15;

/// A part's half of h for one step, 15 floats to a cache line with the tag of the step
/// that wrote them in the line's last word. The reader spins on the lines themselves:
/// one transfer between the cores per line, where a separate "published" counter
/// would first have to cross, and only then the h lines it guards.
struct TaggedFloats(Vec<Line<[AtomicU32; TAGGED_FLOATS + 1]>>);

impl TaggedFloats {
    fn new(len: usize) -> Self {
        TaggedFloats(
            (0..len.div_ceil(TAGGED_FLOATS))
                .map(|_| Line::default())
                .collect(),
        )
    }

    /// Writes `values` and marks each line with `tag` (released after its floats).
    fn store(&self, values: &[f32], tag: u32) {
        for (line, chunk) in self.0.iter().zip(values.chunks(TAGGED_FLOATS)) {
            for (slot, v) in line.0.iter().zip(chunk) {
                slot.store(v.to_bits(), Ordering::Relaxed);
            }
            line.0[TAGGED_FLOATS].store(tag, Ordering::Release);
        }
    }

    /// Reads the values once every line carries `tag`; returns the nanoseconds spent
    /// waiting for them (0 when they were there).
    fn load(&self, tag: u32, out: &mut [f32]) -> u64 {
        let mut since = None;
        for (line, chunk) in self.0.iter().zip(out.chunks_mut(TAGGED_FLOATS)) {
            let mark = &line.0[TAGGED_FLOATS];
            if mark.load(Ordering::Acquire) != tag {
                since.get_or_insert_with(std::time::Instant::now);
                spin_until(|| mark.load(Ordering::Acquire) == tag);
            }
            for (slot, v) in line.0.iter().zip(chunk.iter_mut()) {
                *v = f32::from_bits(slot.load(Ordering::Relaxed));
            }
        }
        since.map_or(0, |t| t.elapsed().as_nanos() as u64)
    }
}

/// The tag of part 1's c at the handover, written once.
const HANDOVER_TAG: u32 = 1;

/// The tag of real step `a`'s h.
fn tag(a: usize) -> u32 {
    // Wraps after 2^32 steps: a reader only ever compares with the one step it waits
    // for, whose slot was last written two steps earlier.
    (a as u32).wrapping_add(1)
}

const UNCLAIMED: usize = 0;
const CLAIMED: usize = 1;
const FINISHED: usize = 2;
const NOT_YET: usize = usize::MAX;

/// The two threads' meeting point. Part 0 is the caller's units, part 1 the helper's.
struct Exchange {
    /// UNCLAIMED until the helper claims part 1 (CLAIMED) or the caller finished alone.
    claim: AtomicUsize,
    /// The step from which the helper computes part 1 (NOT_YET before the handover).
    start: Line<AtomicUsize>,
    /// The real (unmasked) steps done before the handover.
    done: Line<AtomicUsize>,
    /// h of real step `a` of part `p` is in `h[a % 2][p]` once it carries `tag(a)`.
    h: [[TaggedFloats; 2]; 2],
    /// Part 1's c at the handover.
    c: TaggedFloats,
    /// Per part, nanoseconds spent waiting for the other.
    waited: [Line<AtomicU64>; 2],
}

impl Exchange {
    fn new(job: &Job<'_>) -> Self {
        let parts = [job.split, job.u - job.split];
        let slots = || parts.map(TaggedFloats::new);
        Exchange {
            claim: AtomicUsize::new(UNCLAIMED),
            start: Line(AtomicUsize::new(NOT_YET)),
            done: Line(AtomicUsize::new(0)),
            h: [slots(), slots()],
            c: TaggedFloats::new(parts[1]),
            waited: Default::default(),
        }
    }

    /// Part `p` reads the other part's half of h of real step `a` into `out`, waiting
    /// for it if need be (the time it waited is added to `waited[p]`).
    fn receive(&self, p: usize, a: usize, out: &mut [f32]) {
        let ns = self.h[a % 2][1 - p].load(tag(a), out);
        if ns > 0 {
            self.waited[p].0.fetch_add(ns, Ordering::Relaxed);
        }
    }

    /// Part `p` publishes its half of h of real step `a`.
    fn publish(&self, p: usize, a: usize, h: &[f32]) {
        self.h[a % 2][p].store(h, tag(a));
    }
}

/// Spins until `ready()`; after 2^16 tries yields between tries (the other thread was
/// descheduled: give the core back).
fn spin_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < 1 << 16 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// One thread's units `start..start + len`: their columns of every gate, packed
/// contiguous (i, f, c, o of these units), and their state.
struct Half<'a> {
    start: usize,
    len: usize,
    /// (u, 4 len).
    recurrent: Cow<'a, [f32]>,
    /// With `StepInputs::Features`: (f, 4 len) and (4 len).
    kernel: Cow<'a, [f32]>,
    bias: Option<Cow<'a, [f32]>>,
    /// Pre-activations of the step, and with features the projections of the block
    /// of PROJECTION_STEPS steps `zx_block`.
    z: Vec<f32>,
    zx: Vec<f32>,
    zx_block: Option<usize>,
    h_in: Vec<f32>,
    /// Part 0's sums over its own units of h, the first part of each step's product.
    sums: Vec<f32>,
    c: Vec<f32>,
    c_prev: Vec<f32>,
    tanh_c: Vec<f32>,
    h: Vec<f32>,
    /// (steps, len) with `seq`.
    seq_out: Vec<f32>,
}

/// Columns `start..start + len` of each of the four gate blocks of a (rows, 4u) matrix.
fn gate_columns(m: &[f32], u: usize, start: usize, len: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len() / u * len];
    pack_gate_columns(m, u, start, len, &mut out);
    out
}

fn pack_gate_columns(m: &[f32], u: usize, start: usize, len: usize, out: &mut [f32]) {
    let segments = m.chunks(4 * u).flat_map(|row| row.chunks(u));
    for (gate, to) in segments.zip(out.chunks_mut(len)) {
        to.copy_from_slice(&gate[start..start + len]);
    }
}

impl<'a> Half<'a> {
    /// All units, reading the layer's weights in place.
    fn whole(job: &Job<'a>) -> Self {
        let (kernel, bias) = match job.inputs {
            StepInputs::Features { kernel, bias, .. } => (kernel, bias),
            StepInputs::Tokens { .. } => (&[][..], None),
        };
        Self::with(
            job,
            0,
            job.u,
            Cow::Borrowed(job.recurrent),
            Cow::Borrowed(kernel),
            bias.map(Cow::Borrowed),
        )
    }

    /// Units `start..start + len`, their columns copied out (into this core's cache),
    /// the recurrent kernel's into `buffer`.
    fn part(job: &Job<'a>, start: usize, len: usize, packed: &'a mut Vec<f32>) -> Self {
        let u = job.u;
        packed.resize(u * 4 * len, 0.0);
        pack_gate_columns(job.recurrent, u, start, len, packed);
        let (kernel, bias) = match job.inputs {
            StepInputs::Features { kernel, bias, .. } => (
                gate_columns(kernel, u, start, len),
                bias.map(|b| Cow::Owned(gate_columns(b, u, start, len))),
            ),
            StepInputs::Tokens { .. } => (Vec::new(), None),
        };
        let recurrent = Cow::Borrowed(&packed[..]);
        Self::with(job, start, len, recurrent, Cow::Owned(kernel), bias)
    }

    fn with(
        job: &Job<'a>,
        start: usize,
        len: usize,
        recurrent: Cow<'a, [f32]>,
        kernel: Cow<'a, [f32]>,
        bias: Option<Cow<'a, [f32]>>,
    ) -> Self {
        let few = matches!(job.inputs, StepInputs::Features { .. });
        Half {
            start,
            len,
            recurrent,
            kernel,
            bias,
            z: vec![0.0; 4 * len],
            zx: vec![0.0; if few { PROJECTION_STEPS * 4 * len } else { 0 }],
            zx_block: None,
            h_in: vec![0.0; job.u],
            sums: vec![0.0; 4 * len],
            c: vec![0.0; len],
            c_prev: vec![0.0; len],
            tanh_c: vec![0.0; len],
            h: vec![0.0; len],
            seq_out: vec![0.0; if job.seq { job.steps * len } else { 0 }],
        }
    }

    /// The input part of step `t`'s pre-activations, into `z`.
    #[inline(always)]
    fn prepare(&mut self, job: &Job<'_>, t: usize) {
        let (u, w) = (job.u, 4 * self.len);
        match job.inputs {
            StepInputs::Features { x, f, .. } => {
                // As `chunk_infer`'s few-rows path: PROJECTION_STEPS steps per product.
                let block = t / PROJECTION_STEPS;
                if self.zx_block != Some(block) {
                    let t0 = block * PROJECTION_STEPS;
                    let n = PROJECTION_STEPS.min(job.steps - t0);
                    let bias = self.bias.as_deref();
                    let xs = &x[t0 * f..(t0 + n) * f];
                    small_gemm::gemm_bias(xs, &self.kernel, bias, &mut self.zx, n, f, w);
                    self.zx_block = Some(block);
                }
                let at = t % PROJECTION_STEPS;
                self.z.copy_from_slice(&self.zx[at * w..(at + 1) * w]);
            }
            StepInputs::Tokens { ids, table } => {
                let row = &table[ids[t] * 4 * u..][..4 * u];
                for (z, gate) in self.z.chunks_mut(self.len).zip(row.chunks(u)) {
                    z.copy_from_slice(&gate[self.start..self.start + self.len]);
                }
            }
        }
    }

    /// The rest of step `t`: the recurrent product with `h_in` (the whole previous h;
    /// none at t = 0, as `chunk_infer`) and the gate pass.
    #[inline(always)]
    fn finish(&mut self, u: usize, with_recurrent: bool) {
        if with_recurrent {
            let w = 4 * self.len;
            small_gemm::gemm(&self.h_in, &self.recurrent, &mut self.z, 1, u, w, true);
        }
        self.gate_pass();
    }

    #[inline(always)]
    fn gate_pass(&mut self) {
        self.c_prev.copy_from_slice(&self.c);
        lstm_forward_row(
            &mut self.z,
            &self.c_prev,
            &mut self.c,
            &mut self.tanh_c,
            &mut self.h,
        );
    }

    #[inline(always)]
    fn record(&mut self, t: usize) {
        if !self.seq_out.is_empty() {
            self.seq_out[t * self.len..(t + 1) * self.len].copy_from_slice(&self.h);
        }
    }

    /// Step `t`, real step number `a` (when the step is not masked), of part `p`
    /// running beside the other part: waits for the other's half of the previous h,
    /// then publishes this half.
    #[inline(always)]
    fn split_step(&mut self, job: &Job<'_>, ex: &Exchange, p: usize, t: usize, a: &mut usize) {
        if job.active(t) {
            self.prepare(job, t);
            if t > 0 && *a > 0 && p == 0 {
                // Part 0's units are the first k of every column's in-order sum: their
                // share of the product runs before waiting, while part 1's half of h
                // is on its way between the cores (same sums, so the same bits).
                let (s, u, w) = (job.split, job.u, 4 * self.len);
                let (mine, theirs) = self.recurrent.split_at(s * w);
                small_gemm::gemm(&self.h, mine, &mut self.sums, 1, s, w, false);
                ex.receive(p, *a - 1, &mut self.h_in[s..u]);
                let other = &self.h_in[s..u];
                small_gemm::gemm_row_continued(other, theirs, &self.sums, &mut self.z, u - s, w);
                self.gate_pass();
                ex.publish(p, *a, &self.h);
                *a += 1;
                self.record(t);
                return;
            }
            if t > 0 {
                let (own, other) = if p == 0 {
                    (0..job.split, job.split..job.u)
                } else {
                    (job.split..job.u, 0..job.split)
                };
                if *a > 0 {
                    ex.receive(p, *a - 1, &mut self.h_in[other]);
                    self.h_in[own].copy_from_slice(&self.h);
                } else {
                    self.h_in.fill(0.0);
                }
            }
            self.finish(job.u, t > 0);
            ex.publish(p, *a, &self.h);
            *a += 1;
        }
        self.record(t);
    }
}

/// A part's final h and (with `seq`) its rows of every step.
struct Output {
    h: Vec<f32>,
    seq_out: Vec<f32>,
}

impl From<Half<'_>> for Output {
    fn from(half: Half<'_>) -> Self {
        Output {
            h: half.h,
            seq_out: half.seq_out,
        }
    }
}

/// What the caller computed: `whole` for steps before `handover`, `own` (part 0) after.
struct Lead {
    whole: Output,
    own: Option<Output>,
    handover: usize,
}

#[inline(always)]
fn lead(job: &Job<'_>, ex: &Exchange, buffer: &mut Vec<f32>) -> Lead {
    // Packed first, while the helper wakes up (a thread wake takes longer than this
    // copy), so that the handover is immediate.
    let s = job.split;
    let mut own = Half::part(job, 0, s, buffer);
    let mut whole = Half::whole(job);
    let mut a = 0;
    let mut t = 0;
    while t < job.steps {
        if t >= job.earliest_handover && ex.claim.load(Ordering::Acquire) == CLAIMED {
            break;
        }
        if job.active(t) {
            whole.prepare(job, t);
            whole.h_in.copy_from_slice(&whole.h);
            whole.finish(job.u, t > 0);
            a += 1;
        }
        whole.record(t);
        t += 1;
    }
    if t == job.steps
        && ex
            .claim
            .compare_exchange(UNCLAIMED, FINISHED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        return Lead {
            whole: whole.into(),
            own: None,
            handover: t,
        };
    }
    // Hand part 1 over from step t: its c, and h of the last real step as if both
    // parts had published it.
    ex.c.store(&whole.c[s..], HANDOVER_TAG);
    if a > 0 {
        ex.publish(0, a - 1, &whole.h[..s]);
        ex.publish(1, a - 1, &whole.h[s..]);
    }
    ex.done.0.store(a, Ordering::Release);
    ex.start.0.store(t, Ordering::Release);
    own.c.copy_from_slice(&whole.c[..s]);
    own.h.copy_from_slice(&whole.h[..s]);
    for t in t..job.steps {
        own.split_step(job, ex, 0, t, &mut a);
    }
    Lead {
        whole: whole.into(),
        own: Some(own.into()),
        handover: t,
    }
}

#[inline(always)]
fn help(job: &Job<'_>, ex: &Exchange, buffer: &mut Vec<f32>) -> Option<Output> {
    ex.claim
        .compare_exchange(UNCLAIMED, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        .ok()?;
    let mut part = Half::part(job, job.split, job.u - job.split, buffer);
    spin_until(|| ex.start.0.load(Ordering::Acquire) != NOT_YET);
    let start = ex.start.0.load(Ordering::Acquire);
    ex.c.load(HANDOVER_TAG, &mut part.c);
    let mut a = ex.done.0.load(Ordering::Acquire);
    if a > 0 {
        ex.h[(a - 1) % 2][1].load(tag(a - 1), &mut part.h);
    }
    for t in start..job.steps {
        part.split_step(job, ex, 1, t, &mut a);
    }
    Some(part.into())
}

// Compiled for the CPU's widest vectors, so the gate passes inlined into them vectorise.
crate::simd_fn! {
    fn simd_lead(job: &Job<'_>, ex: &Exchange, buffer: &mut Vec<f32>) -> Lead {
        lead(job, ex, buffer)
    }
}

crate::simd_fn! {
    fn simd_help(job: &Job<'_>, ex: &Exchange, buffer: &mut Vec<f32>) -> Option<Output> {
        help(job, ex, buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::lstm::infer::infer_in_blocks;
    use crate::rng::SeededRng;

    fn uniform(rng: &mut SeededRng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-scale, scale)).collect()
    }

    /// The helper claims before the caller starts; the caller hands over at step
    /// `handover` (or finishes alone when it is past the end and no helper runs).
    fn split_run(job: &Job<'_>, helper_runs: bool) -> Vec<f32> {
        let ex = Exchange::new(job);
        let (mut b0, mut b1, mut b2) = (Vec::new(), Vec::new(), Vec::new());
        std::thread::scope(|s| {
            let helper = helper_runs.then(|| s.spawn(|| help(job, &ex, &mut b1)));
            while helper_runs && ex.claim.load(Ordering::Acquire) != CLAIMED {
                std::hint::spin_loop();
            }
            let lead = lead(job, &ex, &mut b0);
            let helper = helper.and_then(|h| h.join().expect("helper"));
            if !helper_runs {
                // Too late: the caller finished alone, the helper finds no work.
                assert!(help(job, &ex, &mut b2).is_none());
            }
            assemble(job, lead, helper)
        })
    }

    #[test]
    fn every_handover_and_split_gives_the_bits_of_the_batched_loop() {
        let mut rng = SeededRng::new(5);
        for &(u, f, steps, seq, masked, tokens) in &[
            (64, 16, 70, false, false, true),
            (71, 9, 40, true, true, true),
            (100, 100, 130, false, true, false),
            (64, 5, 65, true, false, false),
        ] {
            let w = 4 * u;
            let recurrent = uniform(&mut rng, u * w, 0.3);
            let kernel = uniform(&mut rng, f * w, 0.5);
            let bias = uniform(&mut rng, w, 0.2);
            let vocab = 23;
            let table = uniform(&mut rng, vocab * w, 1.0);
            let ids: Vec<usize> = (0..steps).map(|t| (t * 7 + 3) % vocab).collect();
            let x = uniform(&mut rng, steps * f, 1.0);
            // Pre-padding plus a few masked steps inside.
            let step_mask: Vec<bool> = if masked {
                (0..steps).map(|t| t >= 5 && t % 11 != 0).collect()
            } else {
                Vec::new()
            };
            let inputs = if tokens {
                StepInputs::Tokens {
                    ids: &ids,
                    table: &table,
                }
            } else {
                StepInputs::Features {
                    x: &x,
                    f,
                    kernel: &kernel,
                    bias: Some(&bias),
                }
            };
            // The reference: this sequence as row 0 of a batch of two (the block loop).
            let pair_ids: Vec<usize> = ids.iter().chain(&ids).copied().collect();
            let pair_x: Vec<f32> = x.iter().chain(&x).copied().collect();
            let pair_mask: Vec<bool> = step_mask.iter().chain(&step_mask).copied().collect();
            let pair = if tokens {
                StepInputs::Tokens {
                    ids: &pair_ids,
                    table: &table,
                }
            } else {
                StepInputs::Features {
                    x: &pair_x,
                    f,
                    kernel: &kernel,
                    bias: Some(&bias),
                }
            };
            let want = infer_in_blocks(pair, &pair_mask, 2, steps, (u, seq), &recurrent);
            let want = &want[..want.len() / 2];
            for split in [u / 4, u / 2, u - u / 4] {
                for handover in [0, 1, 37, steps - 1, steps] {
                    let job = Job {
                        inputs,
                        recurrent: &recurrent,
                        step_mask: &step_mask,
                        steps,
                        u,
                        seq,
                        split,
                        earliest_handover: handover,
                    };
                    let got = split_run(&job, true);
                    assert_eq!(got, want, "u {u} split {split} handover {handover}");
                }
            }
            let alone = Job {
                inputs,
                recurrent: &recurrent,
                step_mask: &step_mask,
                steps,
                u,
                seq,
                split: u / 2,
                earliest_handover: 0,
            };
            assert_eq!(split_run(&alone, false), want, "u {u} without a helper");
        }
    }

    #[test]
    fn the_split_moves_towards_the_part_that_waited() {
        let job_units = 128;
        let mut balance = Balance::default();
        assert_eq!(balance.split(job_units), 64);
        let ex = Exchange {
            claim: AtomicUsize::new(CLAIMED),
            start: Line(AtomicUsize::new(0)),
            done: Default::default(),
            h: [
                [TaggedFloats::new(1), TaggedFloats::new(1)],
                [TaggedFloats::new(1), TaggedFloats::new(1)],
            ],
            c: TaggedFloats::new(1),
            waited: [Line(AtomicU64::new(5_000)), Line(AtomicU64::new(100))],
        };
        // The caller waited: it is faster, it takes more units.
        balance.adjust(job_units, &ex);
        assert_eq!(balance.split(job_units), 64 + BALANCE_STEP);
        ex.waited[1].0.store(50_000, Ordering::Relaxed);
        for _ in 0..100 {
            balance.adjust(job_units, &ex);
        }
        assert_eq!(balance.split(job_units), 32, "never below a quarter");
        ex.waited[1].0.store(5_200, Ordering::Relaxed);
        balance.adjust(job_units, &ex);
        assert_eq!(balance.split(job_units), 32, "within 10%: balanced");
    }
}
