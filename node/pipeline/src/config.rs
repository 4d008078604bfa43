//! Pipeline definitions as typed values (specs/pipeline.md §2): stages built in
//! code, and the one function that checks a definition before anything runs
//! (cycles, unknown queues, missing provers, zero concurrency, timeouts, k or
//! attempts) and derives its input and sink queues. The TOML loader
//! (`toml_definition.rs`) ends in that same function. Never reads text.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::error::{ConfigError, Problem};

/// Default attempts before a dispatcher's task is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A checked pipeline definition. Only `from_stages` and `parse` build one, so
/// every value of this type passed the checks of specs/pipeline.md §2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    pub name: String,
    pub ordering: Ordering,
    pub stages: Vec<StageConfig>,
    /// Queues no stage writes: where work enters.
    pub inputs: Vec<String>,
    /// Queues no stage reads: where results leave.
    pub sinks: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    /// Block N's final output is emitted before N+1's.
    Sequential,
    /// Lowest pending block first; blocks more than `stale_after_blocks` behind
    /// the newest block submitted are dead-lettered as `stale`.
    Realtime { stale_after_blocks: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageConfig {
    pub name: String,
    pub kind: StageKind,
    pub inputs: Vec<String>,
    pub output: String,
    pub concurrency: u32,
    pub timeout: Duration,
    pub max_attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageKind {
    Dispatcher { prover: String },
    Collector { strategy: Strategy },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// k results of the same block.
    FanIn { k: u32 },
    /// One result from each input queue with the same (block, subtask).
    Match,
    /// k results of the same block from distinct targets (zkVMs), or what
    /// arrived once `deadline` has passed since the group's first member, flagged partial.
    FirstKDistinct { k: u32, deadline: Duration },
}

impl StageConfig {
    /// A dispatcher stage with the defaults a TOML stage gets: concurrency 1,
    /// `DEFAULT_TIMEOUT`, `DEFAULT_MAX_ATTEMPTS`. Checked by `PipelineConfig::from_stages`.
    pub fn dispatcher(
        name: impl Into<String>,
        input: impl Into<String>,
        output: impl Into<String>,
        prover: impl Into<String>,
    ) -> StageConfig {
        StageConfig::with_kind(
            name.into(),
            vec![input.into()],
            output.into(),
            StageKind::Dispatcher { prover: prover.into() },
        )
    }

    /// A collector stage over `inputs`, with the same defaults as a dispatcher.
    pub fn collector(
        name: impl Into<String>,
        inputs: impl IntoIterator<Item = impl Into<String>>,
        output: impl Into<String>,
        strategy: Strategy,
    ) -> StageConfig {
        let inputs = inputs.into_iter().map(Into::into).collect();
        StageConfig::with_kind(name.into(), inputs, output.into(), StageKind::Collector { strategy })
    }

    fn with_kind(name: String, inputs: Vec<String>, output: String, kind: StageKind) -> StageConfig {
        StageConfig {
            name,
            kind,
            inputs,
            output,
            concurrency: 1,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Workers sharing this stage's input (dispatchers).
    pub fn concurrency(mut self, workers: u32) -> StageConfig {
        self.concurrency = workers;
        self
    }

    /// How long one prover run may take before it is cancelled and retried.
    pub fn timeout(mut self, timeout: Duration) -> StageConfig {
        self.timeout = timeout;
        self
    }

    /// Attempts before a task of this stage is dead-lettered.
    pub fn max_attempts(mut self, attempts: u32) -> StageConfig {
        self.max_attempts = attempts;
        self
    }

    /// The prover a dispatcher runs; None for a collector.
    pub fn prover(&self) -> Option<&str> {
        match &self.kind {
            StageKind::Dispatcher { prover } => Some(prover),
            StageKind::Collector { .. } => None,
        }
    }
}

impl PipelineConfig {
    /// Checks a definition built in code and derives its input queues (those
    /// no stage writes) and sinks (those no stage reads). `has_prover` says
    /// whether this node can build a prover name. Errors name the stage.
    pub fn from_stages(
        name: impl Into<String>,
        ordering: Ordering,
        stages: Vec<StageConfig>,
        has_prover: &dyn Fn(&str) -> bool,
    ) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::checked(name.into(), ordering, stages, None, has_prover).map_err(ConfigError::new)
    }

    /// The checks every definition passes, typed or TOML. `declared` is the
    /// TOML's optional `inputs`: with it, a queue read but neither written nor
    /// declared is an unknown queue (a typo) rather than a new input.
    pub(crate) fn checked(
        name: String,
        ordering: Ordering,
        stages: Vec<StageConfig>,
        declared: Option<Vec<String>>,
        has_prover: &dyn Fn(&str) -> bool,
    ) -> Result<PipelineConfig, Problem> {
        if stages.is_empty() {
            return Err(Problem::NoStages);
        }
        let mut names = BTreeSet::new();
        for stage in &stages {
            check_stage(stage, has_prover)?;
            if !names.insert(stage.name.as_str()) {
                return Err(Problem::DuplicateStage(stage.name.clone()));
            }
        }
        let inputs = input_queues(&stages, declared)?;
        if inputs.is_empty() {
            return Err(Problem::NoInputQueue);
        }
        if let Some(cycle) = find_cycle(&stages) {
            return Err(Problem::Cycle(cycle));
        }
        let read: BTreeSet<&str> = stages.iter().flat_map(|s| s.inputs.iter().map(String::as_str)).collect();
        let written: BTreeSet<&str> = stages.iter().map(|s| s.output.as_str()).collect();
        let sinks = written.difference(&read).map(|q| q.to_string()).collect();
        Ok(PipelineConfig { name, ordering, stages, inputs, sinks })
    }

    /// Stages that read `queue`.
    pub fn readers(&self, queue: &str) -> impl Iterator<Item = &StageConfig> {
        self.stages.iter().filter(move |s| s.inputs.iter().any(|q| q == queue))
    }
}

/// The checks of one stage on its own: names, queues, prover, positive values.
fn check_stage(s: &StageConfig, has_prover: &dyn Fn(&str) -> bool) -> Result<(), Problem> {
    let stage = || s.name.clone();
    if s.name.is_empty() {
        return Err(Problem::EmptyName);
    }
    if s.inputs.is_empty() {
        return Err(Problem::EmptyInputList { stage: stage() });
    }
    for q in s.inputs.iter().chain(std::iter::once(&s.output)) {
        slotproof_queue::validate_queue_name(q).map_err(|source| Problem::StageQueueName { stage: stage(), source })?;
    }
    match &s.kind {
        StageKind::Dispatcher { prover } => {
            if !has_prover(prover) {
                return Err(Problem::UnknownProver { stage: stage(), prover: prover.clone() });
            }
            if s.inputs.len() != 1 {
                return Err(Problem::DispatcherInputs { stage: stage() });
            }
        }
        StageKind::Collector { strategy } => match *strategy {
            Strategy::Match if s.inputs.len() < 2 => return Err(Problem::MatchInputs { stage: stage() }),
            Strategy::FanIn { k: 0 } | Strategy::FirstKDistinct { k: 0, .. } => {
                return Err(Problem::ZeroK { stage: stage() });
            }
            _ => {}
        },
    }
    if s.concurrency == 0 {
        return Err(Problem::ZeroConcurrency { stage: stage() });
    }
    if s.max_attempts == 0 {
        return Err(Problem::ZeroMaxAttempts { stage: stage() });
    }
    if s.timeout.is_zero() {
        return Err(Problem::ZeroTimeout { stage: stage() });
    }
    Ok(())
}

/// Where work enters: the declared inputs (every queue read must then be
/// written or declared), or else every queue read that no stage writes.
fn input_queues(stages: &[StageConfig], declared: Option<Vec<String>>) -> Result<Vec<String>, Problem> {
    let written: BTreeSet<&str> = stages.iter().map(|s| s.output.as_str()).collect();
    let Some(declared) = declared else {
        let read: BTreeSet<&str> = stages.iter().flat_map(|s| s.inputs.iter().map(String::as_str)).collect();
        return Ok(read.difference(&written).map(|q| q.to_string()).collect());
    };
    for q in &declared {
        slotproof_queue::validate_queue_name(q).map_err(Problem::DeclaredQueueName)?;
    }
    for s in stages {
        if let Some(q) = s.inputs.iter().find(|q| !written.contains(q.as_str()) && !declared.contains(q)) {
            return Err(Problem::UnknownQueue { stage: s.name.clone(), queue: q.clone() });
        }
    }
    Ok(declared)
}

/// A cycle of stages (A writes a queue B reads ... back to A), if any, as names in order.
fn find_cycle(stages: &[StageConfig]) -> Option<Vec<String>> {
    let next: Vec<Vec<usize>> =
        stages.iter().map(|a| (0..stages.len()).filter(|&b| stages[b].inputs.contains(&a.output)).collect()).collect();
    // 0 = unvisited, 1 = on the current path, 2 = finished.
    let mut mark = vec![0u8; stages.len()];
    let mut path = Vec::new();
    fn dfs(v: usize, next: &[Vec<usize>], mark: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
        mark[v] = 1;
        path.push(v);
        for &w in &next[v] {
            if mark[w] == 1 {
                let start = path.iter().position(|&x| x == w).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(w);
                return Some(cycle);
            }
            if mark[w] == 0
                && let Some(c) = dfs(w, next, mark, path)
            {
                return Some(c);
            }
        }
        path.pop();
        mark[v] = 2;
        None
    }
    (0..stages.len())
        .find_map(|v| if mark[v] == 0 { dfs(v, &next, &mut mark, &mut path) } else { None })
        .map(|c| c.into_iter().map(|i| stages[i].name.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(p: &str) -> bool {
        p == "noop" || p.starts_with("sleep:")
    }

    fn build(stages: Vec<StageConfig>) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_stages("t", Ordering::Sequential, stages, &known)
    }

    fn refused(stages: Vec<StageConfig>) -> Problem {
        match build(stages) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => {
                assert_eq!(e.line, None, "a definition built in code has no line");
                e.problem
            }
        }
    }

    fn prove(name: &str, input: &str, output: &str) -> StageConfig {
        StageConfig::dispatcher(name, input, output, "noop")
    }

    /// The node's shape (one dispatcher per zkVM into one proofs queue), built
    /// both ways: the same `PipelineConfig`.
    #[test]
    fn a_typed_definition_equals_the_same_definition_in_toml() {
        let typed = PipelineConfig::from_stages(
            "node",
            Ordering::Realtime { stale_after_blocks: 64 },
            vec![
                StageConfig::dispatcher("prove-0", "prove:a", "proofs", "noop")
                    .concurrency(2)
                    .timeout(Duration::from_millis(1500))
                    .max_attempts(3),
                StageConfig::dispatcher("prove-1", "prove:b", "proofs", "sleep:5"),
                StageConfig::collector(
                    "close",
                    ["proofs"],
                    "results",
                    Strategy::FirstKDistinct { k: 2, deadline: Duration::from_secs(12) },
                ),
            ],
            &known,
        )
        .unwrap();
        let toml = PipelineConfig::parse(
            r#"
name = "node"
ordering = "realtime"
stale_after_blocks = 64
[[stage]]
name = "prove-0"
kind = "dispatcher"
input = "prove:a"
output = "proofs"
prover = "noop"
concurrency = 2
timeout = "1500ms"
max_attempts = 3
[[stage]]
name = "prove-1"
kind = "dispatcher"
input = "prove:b"
output = "proofs"
prover = "sleep:5"
[[stage]]
name = "close"
kind = "collector"
input = "proofs"
output = "results"
strategy = "first-k-distinct"
k = 2
"#,
            &known,
        )
        .unwrap();
        assert_eq!(typed, toml);
        assert_eq!(typed.inputs, vec!["prove:a", "prove:b"]);
        assert_eq!(typed.sinks, vec!["results"]);
        assert_eq!(typed.stages[1].concurrency, 1);
        assert_eq!(typed.stages[1].timeout, DEFAULT_TIMEOUT);
        assert_eq!(typed.stages[1].max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(typed.stages[1].prover(), Some("sleep:5"));
        assert_eq!(typed.stages[2].prover(), None);
    }

    #[test]
    fn a_cycle_is_refused_naming_its_stages() {
        let p = refused(vec![prove("a", "q1", "q2"), prove("b", "q2", "q1"), prove("c", "in", "q1")]);
        assert!(matches!(&p, Problem::Cycle(names) if names == &["a", "b", "a"]), "{p:?}");
        assert_eq!(p.to_string(), "cycle: a -> b -> a");
    }

    #[test]
    fn a_pipeline_with_no_way_in_is_refused() {
        assert!(matches!(refused(vec![prove("s", "q", "q")]), Problem::NoInputQueue));
        assert!(matches!(refused(vec![]), Problem::NoStages));
    }

    #[test]
    fn an_unknown_prover_is_refused_naming_the_stage() {
        let p = refused(vec![StageConfig::dispatcher("prove-sp1", "in", "out", "sp9")]);
        assert_eq!(p.to_string(), "stage \"prove-sp1\": unknown prover \"sp9\"");
    }

    #[test]
    fn zero_concurrency_attempts_timeout_and_k_are_refused() {
        let p = refused(vec![prove("a", "in", "out").concurrency(0)]);
        assert!(matches!(&p, Problem::ZeroConcurrency { stage } if stage == "a"), "{p:?}");
        let p = refused(vec![prove("a", "in", "out").max_attempts(0)]);
        assert!(matches!(&p, Problem::ZeroMaxAttempts { stage } if stage == "a"), "{p:?}");
        let p = refused(vec![prove("a", "in", "out").timeout(Duration::ZERO)]);
        assert!(matches!(&p, Problem::ZeroTimeout { stage } if stage == "a"), "{p:?}");
        for strategy in [Strategy::FanIn { k: 0 }, Strategy::FirstKDistinct { k: 0, deadline: Duration::from_secs(1) }]
        {
            let p = refused(vec![prove("a", "in", "mid"), StageConfig::collector("j", ["mid"], "out", strategy)]);
            assert!(matches!(&p, Problem::ZeroK { stage } if stage == "j"), "{p:?}");
        }
    }

    #[test]
    fn stage_shapes_are_checked() {
        let p = refused(vec![prove("a", "in", "x"), prove("a", "x", "out")]);
        assert!(matches!(&p, Problem::DuplicateStage(name) if name == "a"), "{p:?}");
        assert!(matches!(refused(vec![prove("", "in", "out")]), Problem::EmptyName));
        let mut two = prove("a", "in", "out");
        two.inputs.push("in2".into());
        assert!(matches!(refused(vec![two]), Problem::DispatcherInputs { .. }));
        let p = refused(vec![StageConfig::collector("j", ["in"], "out", Strategy::Match)]);
        assert!(matches!(p, Problem::MatchInputs { .. }), "{p:?}");
        let p = refused(vec![StageConfig::collector("j", Vec::<String>::new(), "out", Strategy::Match)]);
        assert!(matches!(p, Problem::EmptyInputList { .. }), "{p:?}");
        let p = refused(vec![prove("a", "in", "bad queue")]);
        assert!(matches!(&p, Problem::StageQueueName { stage, .. } if stage == "a"), "{p:?}");
        assert!(std::error::Error::source(&p).is_some(), "the queue's error is kept as the cause");
    }

    #[test]
    fn a_match_join_of_two_flows_is_accepted() {
        let c = build(vec![
            prove("left", "a", "a-out"),
            prove("right", "b", "b-out"),
            StageConfig::collector("join", ["a-out", "b-out"], "joined", Strategy::Match),
        ])
        .unwrap();
        assert_eq!(c.inputs, vec!["a", "b"]);
        assert_eq!(c.sinks, vec!["joined"]);
        assert_eq!(c.readers("a-out").map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["join"]);
    }
}
