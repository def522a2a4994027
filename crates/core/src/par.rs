//! Splitting pure per-item work across the available cores, keeping the input order.

//!
//! Scoped threads, one chunk of the input per core: no pool to configure, nothing left running.

/// Below this many items, [`map`] keeps the work on the calling thread.
pub const PARALLEL_THRESHOLD: usize = 4_096;

/// Maps `items` through `f`, on several threads when there are at least
/// [`PARALLEL_THRESHOLD`] items; the output order is the input order.
///
/// ```
/// let doubled = strata_core::par::map((0..10_000).collect(), |i: u64| i * 2);
/// assert_eq!(doubled[9_999], 19_998);
/// ```
pub fn map<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    map_if(items, |items| items.len() >= PARALLEL_THRESHOLD, f)
}

/// Maps `items` through `f`, on several threads when `worth_it` says the items are enough work
/// (for example files whose total size is large, however few); the output order is the input
/// order.
pub fn map_if<T, R, F>(items: Vec<T>, worth_it: impl FnOnce(&[T]) -> bool, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let threads = threads_for(&items, worth_it);
    if threads < 2 {
        return items.into_iter().map(f).collect();
    }
    map_runs(items, threads, |_, inputs, outputs| {
        for (input, output) in inputs.iter_mut().zip(outputs) {
            *output = input.take().map(&f);
        }
    })
}

/// [`map`] in batches of `batch` consecutive items: `look` first reads every item of a batch
/// (given its position in `items`), one after another, then `f` takes each item with what
/// `look` returned for it. For work that starts with lookups in tables too large for the cache
/// (a state record, an observation): made back to back, their memory accesses overlap, and
/// what they bring into the cache is still there when `f` reads it.
///
/// ```
/// let squares: Vec<u64> = (0..100).map(|i| i * i).collect();
/// let out = strata_core::par::map_batched(
///     (0..10_000u64).collect(),
///     64,
///     |_, i| squares[*i as usize % 100],
///     |i, square| i + square,
/// );
/// assert_eq!(out[12], 12 + 144);
/// ```
pub fn map_batched<T, L, R>(
    items: Vec<T>,
    batch: usize,
    look: impl Fn(usize, &T) -> L + Sync,
    f: impl Fn(T, L) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let batch = batch.max(1);
    let threads = threads_for(&items, |items| items.len() >= PARALLEL_THRESHOLD);
    map_runs(items, threads, |start, inputs, outputs| {
        let mut looked = Vec::with_capacity(batch.min(inputs.len()));
        for (run, (inputs, outputs)) in inputs
            .chunks_mut(batch)
            .zip(outputs.chunks_mut(batch))
            .enumerate()
        {
            let first = start + run * batch;
            looked.extend(
                inputs
                    .iter()
                    .enumerate()
                    .map(|(i, input)| input.as_ref().map(|item| look(first + i, item))),
            );
            for ((input, output), found) in inputs.iter_mut().zip(outputs).zip(looked.drain(..)) {
                if let (Some(item), Some(found)) = (input.take(), found) {
                    *output = Some(f(item, found));
                }
            }
        }
    })
}

/// How many threads to split `items` across: one when `worth_it` says they are too little work.
fn threads_for<T>(items: &[T], worth_it: impl FnOnce(&[T]) -> bool) -> usize {
    // The cheap tests first: `available_parallelism` reads the cgroup's CPU quota from /proc
    // and /sys on every call, which a short command pays once per small batch otherwise.
    if items.len() < 2 || !worth_it(items) {
        1
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Splits `items` into `threads` runs and has `work` fill each run's outputs from its inputs,
/// given the run's first position; every output must be filled.
fn map_runs<T, R>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(usize, &mut [Option<T>], &mut [Option<R>]) + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let total = items.len();
    // Each thread takes its inputs from, and writes its results into, its own run of two
    // buffers sized once: nothing is copied between threads, and neither the inputs nor the
    // results (a plan's changes, for a large stack hundreds of MB) are ever held twice. Both
    // conversions below reuse their buffer whenever `Option` adds no room to the item.
    let mut inputs: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<R>> = std::iter::repeat_with(|| None).take(total).collect();
    let chunk = total.div_ceil(threads.max(1)).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let mut runs = inputs
            .chunks_mut(chunk)
            .zip(outputs.chunks_mut(chunk))
            .enumerate()
            .map(|(run, (inputs, outputs))| (run * chunk, inputs, outputs));
        let first = runs.next();
        let others: Vec<_> = runs
            .map(|(start, inputs, outputs)| scope.spawn(move || work(start, inputs, outputs)))
            .collect();
        // The calling thread does the first run, then waits for the others; a panic in one
        // of them reaches the caller as it was raised.
        if let Some((start, inputs, outputs)) = first {
            work(start, inputs, outputs);
        }
        for handle in others {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    drop(inputs);
    // Every slot is filled. `filter_map` collects in place, `flatten` into a new buffer.
    #[allow(clippy::filter_map_identity)]
    let outputs: Vec<R> = outputs
        .into_iter()
        .filter_map(std::convert::identity)
        .collect();
    debug_assert_eq!(outputs.len(), total, "a run left an output empty");
    outputs
}

/// Maps runs of `items` through `f` (each run a contiguous slice, one per core once there are
/// at least [`PARALLEL_THRESHOLD`] items) and joins what each returns in the items' order: the
/// result is what `f(items)` returns when `f` treats each item on its own.
///
/// ```
/// let odd = strata_core::par::flat_map_slices(&(0..10_000).collect::<Vec<u32>>(), |run| {
///     run.iter().filter(|i| *i % 2 == 1).copied().collect()
/// });
/// assert_eq!(odd.len(), 5_000);
/// assert_eq!(odd[0], 1);
/// ```
pub fn flat_map_slices<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> Vec<R> + Sync,
{
    if items.len() < PARALLEL_THRESHOLD {
        return f(items);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 {
        return f(items);
    }
    let runs: Vec<&[T]> = items.chunks(items.len().div_ceil(threads)).collect();
    let mut out = Vec::new();
    for part in map_if(runs, |_| true, &f) {
        out.extend(part);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_above_and_below_the_threshold() {
        for n in [10, super::PARALLEL_THRESHOLD * 3 + 7] {
            let out = super::map((0..n).collect(), |i: usize| i * 2);
            assert_eq!(out, (0..n).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn batched_items_get_what_was_looked_up_for_them_in_order() {
        for n in [0, 1, 10, super::PARALLEL_THRESHOLD * 3 + 7] {
            for batch in [0, 1, 7, 256, n + 1] {
                let items: Vec<String> = (0..n).map(|i| format!("item-{i}")).collect();
                let out = super::map_batched(
                    items,
                    batch,
                    |i, s: &String| (i, s.len()),
                    |s: String, found| (found, s),
                );
                assert_eq!(out.len(), n, "{n} items, batches of {batch}");
                for (i, ((position, len), s)) in out.iter().enumerate() {
                    assert_eq!(s, &format!("item-{i}"));
                    assert_eq!((*position, *len), (i, s.len()));
                }
            }
        }
    }

    #[test]
    fn owned_items_move_through_every_thread_once_in_order() {
        let n = super::PARALLEL_THRESHOLD * 2 + 3;
        let items: Vec<String> = (0..n).map(|i| format!("item-{i}")).collect();
        let out = super::map(items, |s: String| (s.len(), s));
        assert_eq!(out.len(), n);
        for (i, (len, s)) in out.iter().enumerate() {
            assert_eq!(s, &format!("item-{i}"));
            assert_eq!(*len, s.len());
        }
    }

    #[test]
    #[should_panic(expected = "item 5000")]
    fn a_panic_in_any_thread_reaches_the_caller() {
        let n = super::PARALLEL_THRESHOLD * 2;
        super::map((0..n).collect(), |i: usize| {
            assert!(i != 5000, "item {i}");
            i
        });
    }

    #[test]
    fn slices_keep_order_above_and_below_the_threshold() {
        for n in [10, super::PARALLEL_THRESHOLD * 3 + 7] {
            let items: Vec<usize> = (0..n).collect();
            let out = super::flat_map_slices(&items, |run| {
                run.iter()
                    .filter(|i| *i % 3 != 0)
                    .flat_map(|&i| [i, i])
                    .collect()
            });
            let expected: Vec<usize> = (0..n).filter(|i| i % 3 != 0).flat_map(|i| [i, i]).collect();
            assert_eq!(out, expected);
        }
    }
}
