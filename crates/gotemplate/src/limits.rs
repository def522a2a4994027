//! Limits on what one template execution may consume: nesting of template calls, output size,
//! the size of any value a function builds and of all of them together, steps and time.
//!
//! Every limit has a default that ordinary templates never reach ([`Limits::default`]); an
//! embedder can change each one. Reaching a limit stops the execution with a
//! [`TemplateError`](crate::TemplateError) whose [`limit`](crate::TemplateError::limit) says which.

use std::cell::Cell;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Go's maximum nesting of `{{template}}` calls (`text/template`'s `maxExecDepth`).
pub const GO_MAX_DEPTH: usize = 100_000;

/// Bytes of stack kept free before recursing; below it, execution continues on a new stack
/// segment allocated on the heap, so deep nesting cannot overflow the thread's stack.
pub(crate) const RED_ZONE: usize = 256 * 1024;
/// Size of each stack segment allocated when the red zone is reached.
pub(crate) const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, first moving to a fresh heap-allocated stack segment if little stack is left.
pub(crate) fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// What one execution of a template may consume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Nesting of `{{template}}` / `include` calls (Go: 100,000; Helm stops `include` at 1,000
    /// whatever this says).
    pub max_depth: usize,
    /// Bytes of output of one template (also of each `include`d or `tpl` result).
    pub max_output_bytes: usize,
    /// Bytes of any single string, or of the strings and elements of any list or map, that a
    /// function builds.
    pub max_value_bytes: usize,
    /// Elements of any single list a function builds.
    pub max_list_len: usize,
    /// Bytes of all the values functions build during one execution, summed (measured as for
    /// `max_value_bytes`): bounds the memory that values held at once (in variables, in the
    /// dot of nested template calls) can take, which `max_value_bytes` bounds only one by one.
    pub max_total_bytes: usize,
    /// Evaluation steps (nodes run and functions called) of one execution.
    pub max_steps: u64,
    /// Wall-clock time of one execution; `None` for no time limit.
    pub max_duration: Option<Duration>,
    /// Bytes of stack that nesting (template calls and control structures inside them) may
    /// take beyond the thread's own stack, in heap-allocated segments. Go caps a goroutine's
    /// stack at 1 GB likewise; 100,000 nested template calls fit in far less.
    pub max_stack_bytes: usize,
}

impl Default for Limits {
    /// 100,000 nested calls (Go's), 64 MiB of output, 16 MiB per value, 1,000,000 list
    /// elements, 512 MiB of values built in all, 10,000,000 steps, 10 seconds and 1 GiB of
    /// stack.
    fn default() -> Self {
        Limits {
            max_depth: GO_MAX_DEPTH,
            max_output_bytes: 64 << 20,
            max_value_bytes: 16 << 20,
            max_list_len: 1_000_000,
            max_total_bytes: 512 << 20,
            max_steps: 10_000_000,
            max_duration: Some(Duration::from_secs(10)),
            max_stack_bytes: 1 << 30,
        }
    }
}

impl Limits {
    /// These limits with `max_depth` nested template calls.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// These limits with `bytes` of output per template.
    pub fn with_max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// These limits with `bytes` per value a function builds.
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// These limits with `len` elements per list a function builds.
    pub fn with_max_list_len(mut self, len: usize) -> Self {
        self.max_list_len = len;
        self
    }

    /// These limits with `bytes` of values built in all per execution.
    pub fn with_max_total_bytes(mut self, bytes: usize) -> Self {
        self.max_total_bytes = bytes;
        self
    }

    /// These limits with `steps` evaluation steps per execution.
    pub fn with_max_steps(mut self, steps: u64) -> Self {
        self.max_steps = steps;
        self
    }

    /// These limits with `duration` of wall-clock time per execution (`None`: unlimited).
    pub fn with_max_duration(mut self, duration: Option<Duration>) -> Self {
        self.max_duration = duration;
        self
    }

    /// These limits with `bytes` of stack for nesting.
    pub fn with_max_stack_bytes(mut self, bytes: usize) -> Self {
        self.max_stack_bytes = bytes;
        self
    }

    /// Whether a string of `bytes` bytes fits one value.
    pub(crate) fn check_bytes(&self, bytes: u128) -> Result<(), LimitExceeded> {
        if bytes > self.max_value_bytes as u128 {
            return Err(LimitExceeded::ValueBytes {
                size: u64::try_from(bytes).unwrap_or(u64::MAX),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Whether a list of `len` elements fits one value.
    pub(crate) fn check_len(&self, len: u128) -> Result<(), LimitExceeded> {
        if len > self.max_list_len as u128 {
            return Err(LimitExceeded::ListLength {
                len: u64::try_from(len).unwrap_or(u64::MAX),
                limit: self.max_list_len,
            });
        }
        Ok(())
    }

    /// Whether `v` fits one value: its bytes (strings, keys, 8 per scalar) and every list's
    /// length. Stops measuring as soon as a limit is passed; gives the bytes measured.
    pub(crate) fn check_value(&self, v: &Value) -> Result<u128, LimitExceeded> {
        self.check_values(std::iter::once(v))
    }

    /// Whether the values `vs` together fit one value (for functions whose result holds
    /// their arguments); gives their bytes.
    pub(crate) fn check_values<'v>(
        &self,
        vs: impl IntoIterator<Item = &'v Value>,
    ) -> Result<u128, LimitExceeded> {
        let list: Vec<&Value> = vs.into_iter().collect();
        self.check_len(list.len() as u128)?;
        let mut total: u128 = 0;
        let mut stack = list;
        while let Some(v) = stack.pop() {
            total += match v {
                Value::String(s) => s.len() as u128,
                Value::Array(a) => {
                    self.check_len(a.len() as u128)?;
                    stack.extend(a.iter());
                    8
                }
                Value::Object(m) => {
                    stack.extend(m.values());
                    m.keys().map(|k| k.len() as u128 + 8).sum::<u128>()
                }
                _ => 8,
            };
            self.check_bytes(total)?;
        }
        Ok(total)
    }
}

/// A limit of [`Limits`] that an execution reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// Too many nested `{{template}}` calls (Go's message).
    #[error("exceeded maximum template depth ({0})")]
    Depth(usize),
    /// The template's output grew past `max_output_bytes`.
    #[error("template output exceeds the limit of {limit} bytes (max_output_bytes)")]
    Output {
        /// The limit.
        limit: usize,
    },
    /// A function would build a value larger than `max_value_bytes`.
    #[error(
        "result of {size} bytes exceeds the limit of {limit} bytes per value (max_value_bytes)"
    )]
    ValueBytes {
        /// The size of the value (as far as measured, or as it would have been; saturated).
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A function would build a list longer than `max_list_len`.
    #[error("list of {len} elements exceeds the limit of {limit} elements (max_list_len)")]
    ListLength {
        /// The length of the list (as it would have been; saturated).
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The execution took more than `max_steps` steps.
    #[error("template execution exceeded the budget of {limit} steps (max_steps)")]
    Steps {
        /// The limit.
        limit: u64,
    },
    /// Nesting took more than `max_stack_bytes` of stack.
    #[error(
        "template execution nests too deeply: it needs more than {limit} bytes of stack (max_stack_bytes)"
    )]
    Stack {
        /// The limit.
        limit: usize,
    },
    /// The values functions built during the execution came to more than `max_total_bytes`.
    #[error("template execution built more than {limit} bytes of values in all (max_total_bytes)")]
    TotalBytes {
        /// The limit.
        limit: usize,
    },
    /// The execution ran longer than `max_duration`.
    #[error("template execution exceeded the time budget of {limit:?} (max_duration)")]
    Time {
        /// The limit.
        limit: Duration,
    },
}

/// The consumption of one execution (shared by the templates `include` and `tpl` run).
#[derive(Debug)]
pub(crate) struct Meter {
    pub limits: Limits,
    steps: Cell<u64>,
    deadline: Option<Instant>,
    /// Bytes of stack segments in use.
    stack: Cell<usize>,
    /// Bytes of the values functions built so far.
    built: Cell<u128>,
    /// Where random output is stood in for by a placeholder (see
    /// [`RandomPlaceholders`](crate::RandomPlaceholders)), and the template file executed.
    pub random: Option<(std::sync::Arc<crate::RandomPlaceholders>, String)>,
}

impl Meter {
    /// A fresh meter for one execution starting now.
    pub(crate) fn new(limits: &Limits) -> Self {
        Meter {
            limits: limits.clone(),
            steps: Cell::new(0),
            deadline: limits.max_duration.map(|d| Instant::now() + d),
            stack: Cell::new(0),
            built: Cell::new(0),
            random: None,
        }
    }

    /// Counts one step; checks the clock every 1024 steps.
    pub(crate) fn step(&self) -> Result<(), LimitExceeded> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if n > self.limits.max_steps {
            return Err(LimitExceeded::Steps {
                limit: self.limits.max_steps,
            });
        }
        if n.is_multiple_of(1024) {
            self.check_time()?;
        }
        Ok(())
    }

    /// Counts `bytes` more of values built; an error once they pass `max_total_bytes`.
    pub(crate) fn built(&self, bytes: u128) -> Result<(), LimitExceeded> {
        let total = self.built.get().saturating_add(bytes);
        self.built.set(total);
        if total > self.limits.max_total_bytes as u128 {
            return Err(LimitExceeded::TotalBytes {
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// Runs `f`, first moving to a new stack segment if little stack is left and the stack
    /// budget allows one more.
    pub(crate) fn grow<R>(&self, f: impl FnOnce() -> R) -> Result<R, LimitExceeded> {
        if stacker::remaining_stack().is_some_and(|left| left >= RED_ZONE) {
            return Ok(f());
        }
        let used = self.stack.get() + STACK_SEGMENT;
        if used > self.limits.max_stack_bytes {
            return Err(LimitExceeded::Stack {
                limit: self.limits.max_stack_bytes,
            });
        }
        self.stack.set(used);
        let r = stacker::grow(STACK_SEGMENT, f);
        self.stack.set(used - STACK_SEGMENT);
        Ok(r)
    }

    /// Whether the time budget is spent.
    pub(crate) fn check_time(&self) -> Result<(), LimitExceeded> {
        match (self.deadline, self.limits.max_duration) {
            (Some(deadline), Some(limit)) if Instant::now() > deadline => {
                Err(LimitExceeded::Time { limit })
            }
            _ => Ok(()),
        }
    }
}
