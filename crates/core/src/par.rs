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
    // The cheap tests first: `available_parallelism` reads the cgroup's CPU quota from /proc
    // and /sys on every call, which a short command pays once per small batch otherwise.
    if items.len() < 2 || !worth_it(&items) {
        return items.into_iter().map(f).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 {
        return items.into_iter().map(f).collect();
    }
    let total = items.len();
    let chunk = total.div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let f = &f;
    std::thread::scope(|scope| {
        let mut parts = chunks.into_iter();
        let first = parts.next();
        let handles: Vec<_> = parts
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        // The calling thread maps the first part straight into the output, which is sized
        // once: results can be large (a plan's changes), and growing the output by doubling
        // copied them again and again into fresh memory.
        let mut out: Vec<R> = Vec::with_capacity(total);
        out.extend(first.into_iter().flatten().map(f));
        for handle in handles {
            out.extend(handle.join().expect("per-item work does not panic"));
        }
        out
    })
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
