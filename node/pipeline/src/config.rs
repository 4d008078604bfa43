//! Pipeline definitions in TOML (specs/pipeline.md §2): parsing, and the checks
//! that refuse a definition before anything runs (cycles, unknown queues,
//! missing provers), each error naming the problem and its line.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

pub use slotproof_primitives::duration::parse_duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, PipelineError};

/// Default attempts before a dispatcher's task is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: Option<String>,
    ordering: Option<Spanned<String>>,
    stale_after_blocks: Option<u64>,
    inputs: Option<Spanned<Vec<String>>>,
    #[serde(default, rename = "stage")]
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: Spanned<String>,
    kind: Spanned<String>,
    input: Option<Spanned<OneOrMany>>,
    output: Option<Spanned<String>>,
    prover: Option<Spanned<String>>,
    strategy: Option<Spanned<String>>,
    k: Option<Spanned<u32>>,
    deadline: Option<Spanned<String>>,
    concurrency: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    max_attempts: Option<Spanned<u32>>,
}

struct Source<'a>(&'a str);

impl Source<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.0[..span.start.min(self.0.len())].matches('\n').count() + 1
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError { line: Some(self.line(span)), message: message.into() }
    }
}

impl PipelineConfig {
    /// Parses and checks a definition. `known_prover` says whether a prover name
    /// can be built by this node.
    pub fn parse(text: &str, known_prover: &dyn Fn(&str) -> bool) -> Result<PipelineConfig, PipelineError> {
        let src = Source(text);
        let raw: RawPipeline = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| src.line(s));
            ConfigError { line, message: e.message().to_string() }
        })?;
        let ordering = match raw.ordering.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("realtime", _)) => {
                Ordering::Realtime { stale_after_blocks: raw.stale_after_blocks.unwrap_or(32) }
            }
            Some(("sequential", _)) => Ordering::Sequential,
            Some((other, span)) => {
                return Err(src
                    .err(span, format!("unknown ordering {other:?}: expected sequential or realtime"))
                    .into());
            }
        };
        if raw.stages.is_empty() {
            return Err(ConfigError { line: None, message: "no [[stage]] defined".into() }.into());
        }
        let mut stages = Vec::new();
        let mut lines = BTreeMap::new();
        for s in &raw.stages {
            let stage = parse_stage(&src, s, known_prover)?;
            if lines.insert(stage.name.clone(), src.line(s.name.span())).is_some() {
                return Err(src.err(s.name.span(), format!("stage name {:?} is used twice", stage.name)).into());
            }
            stages.push(stage);
        }

        let written: BTreeSet<&str> = stages.iter().map(|s| s.output.as_str()).collect();
        let read: BTreeSet<&str> = stages.iter().flat_map(|s| s.inputs.iter().map(String::as_str)).collect();
        let inputs: Vec<String> = match &raw.inputs {
            Some(declared) => {
                for name in declared.get_ref() {
                    slotproof_queue::validate_queue_name(name).map_err(|e| src.err(declared.span(), e.to_string()))?;
                }
                for (stage, s) in stages.iter().zip(&raw.stages) {
                    for q in &stage.inputs {
                        if !written.contains(q.as_str()) && !declared.get_ref().contains(q) {
                            let span = s.input.as_ref().map_or(s.name.span(), |i| i.span());
                            return Err(src
                                .err(span, format!("stage {:?} reads unknown queue {q:?}: no stage writes it and it is not in `inputs`", stage.name))
                                .into());
                        }
                    }
                }
                declared.get_ref().clone()
            }
            None => read.iter().filter(|q| !written.contains(*q)).map(|q| q.to_string()).collect(),
        };
        if inputs.is_empty() {
            return Err(ConfigError {
                line: None,
                message: "no input queue: every queue read is written by a stage, so no work can enter".into(),
            }
            .into());
        }
        if let Some(cycle) = find_cycle(&stages) {
            let line = lines.get(&cycle[0]).copied();
            return Err(ConfigError { line, message: format!("cycle: {}", cycle.join(" -> ")) }.into());
        }
        let sinks = written.iter().filter(|q| !read.contains(*q)).map(|q| q.to_string()).collect();
        Ok(PipelineConfig { name: raw.name.unwrap_or_else(|| "default".into()), ordering, stages, inputs, sinks })
    }

    /// Stages that read `queue`.
    pub fn readers(&self, queue: &str) -> impl Iterator<Item = &StageConfig> {
        self.stages.iter().filter(move |s| s.inputs.iter().any(|q| q == queue))
    }
}

fn parse_stage(
    src: &Source<'_>,
    s: &RawStage,
    known_prover: &dyn Fn(&str) -> bool,
) -> Result<StageConfig, PipelineError> {
    let name = s.name.get_ref().clone();
    let at_name = s.name.span();
    if name.is_empty() {
        return Err(src.err(at_name, "stage name is empty").into());
    }
    let Some(input) = &s.input else {
        return Err(src.err(at_name, format!("stage {name:?} has no input")).into());
    };
    let inputs = match input.get_ref() {
        OneOrMany::One(q) => vec![q.clone()],
        OneOrMany::Many(qs) => qs.clone(),
    };
    let Some(output) = &s.output else {
        return Err(src.err(at_name, format!("stage {name:?} has no output")).into());
    };
    for q in inputs.iter().chain(std::iter::once(output.get_ref())) {
        slotproof_queue::validate_queue_name(q).map_err(|e| src.err(input.span(), format!("stage {name:?}: {e}")))?;
    }
    if inputs.is_empty() {
        return Err(src.err(input.span(), format!("stage {name:?} has an empty input list")).into());
    }
    let duration = |d: &Option<Spanned<String>>, default: Duration| -> Result<Duration, ConfigError> {
        d.as_ref().map_or(Ok(default), |d| parse_duration(d.get_ref()).map_err(|e| src.err(d.span(), e.to_string())))
    };
    let kind = match s.kind.get_ref().as_str() {
        "dispatcher" => {
            let Some(prover) = &s.prover else {
                return Err(src.err(at_name, format!("dispatcher stage {name:?} has no prover")).into());
            };
            if !known_prover(prover.get_ref()) {
                return Err(src
                    .err(prover.span(), format!("stage {name:?}: unknown prover {:?}", prover.get_ref()))
                    .into());
            }
            if inputs.len() != 1 {
                return Err(src.err(input.span(), format!("dispatcher stage {name:?} reads exactly one queue")).into());
            }
            if let Some(st) = &s.strategy {
                return Err(src
                    .err(st.span(), format!("dispatcher stage {name:?} takes a prover, not a strategy"))
                    .into());
            }
            StageKind::Dispatcher { prover: prover.get_ref().clone() }
        }
        "collector" => {
            let Some(strategy) = &s.strategy else {
                return Err(src.err(at_name, format!("collector stage {name:?} has no strategy")).into());
            };
            if let Some(p) = &s.prover {
                return Err(src
                    .err(p.span(), format!("collector stage {name:?} takes a strategy, not a prover"))
                    .into());
            }
            let k = |what: &str| -> Result<u32, ConfigError> {
                match &s.k {
                    Some(k) if *k.get_ref() >= 1 => Ok(*k.get_ref()),
                    Some(k) => Err(src.err(k.span(), format!("stage {name:?}: k must be at least 1"))),
                    None => Err(src.err(strategy.span(), format!("stage {name:?}: strategy {what} needs k"))),
                }
            };
            let strategy = match strategy.get_ref().as_str() {
                "fan-in" => Strategy::FanIn { k: k("fan-in")? },
                "match" if inputs.len() >= 2 => Strategy::Match,
                "match" => {
                    return Err(src
                        .err(input.span(), format!("stage {name:?}: match joins two or more input queues"))
                        .into());
                }
                "first-k-distinct" => Strategy::FirstKDistinct {
                    k: k("first-k-distinct")?,
                    deadline: duration(&s.deadline, Duration::from_secs(12))?,
                },
                other => {
                    return Err(src
                        .err(
                            strategy.span(),
                            format!(
                                "stage {name:?}: unknown strategy {other:?}: expected fan-in, match or first-k-distinct"
                            ),
                        )
                        .into());
                }
            };
            StageKind::Collector { strategy }
        }
        other => {
            return Err(src
                .err(s.kind.span(), format!("stage {name:?}: unknown kind {other:?}: expected dispatcher or collector"))
                .into());
        }
    };
    let positive = |v: &Option<Spanned<u32>>, what: &str, default: u32| -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) if *v.get_ref() >= 1 => Ok(*v.get_ref()),
            Some(v) => Err(src.err(v.span(), format!("stage {name:?}: {what} must be at least 1"))),
        }
    };
    Ok(StageConfig {
        kind,
        inputs,
        output: output.get_ref().clone(),
        concurrency: positive(&s.concurrency, "concurrency", 1)?,
        timeout: duration(&s.timeout, DEFAULT_TIMEOUT)?,
        max_attempts: positive(&s.max_attempts, "max_attempts", DEFAULT_MAX_ATTEMPTS)?,
        name,
    })
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

    fn parse(text: &str) -> Result<PipelineConfig, PipelineError> {
        PipelineConfig::parse(text, &known)
    }

    fn err(text: &str) -> String {
        parse(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn the_minimal_form_loads() {
        let c = parse(
            "[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"noop\"\n",
        )
        .unwrap();
        assert_eq!(c.inputs, vec!["q1"]);
        assert_eq!(c.sinks, vec!["q2"]);
        assert_eq!(c.stages[0].kind, StageKind::Dispatcher { prover: "noop".into() });
        assert_eq!(c.ordering, Ordering::Realtime { stale_after_blocks: 32 });
    }

    #[test]
    fn the_three_stage_pattern_loads() {
        let c = parse(
            r#"
name = "bench"
ordering = "sequential"
[[stage]]
name = "d1"
kind = "dispatcher"
input = "q1"
output = "q2"
prover = "noop"
concurrency = 4
[[stage]]
name = "d2"
kind = "dispatcher"
input = "q2"
output = "q3"
prover = "sleep:5"
timeout = "2s"
max_attempts = 5
[[stage]]
name = "join"
kind = "collector"
input = ["q3"]
output = "done"
strategy = "fan-in"
k = 4
"#,
        )
        .unwrap();
        assert_eq!(c.ordering, Ordering::Sequential);
        assert_eq!(c.stages[1].timeout, Duration::from_secs(2));
        assert_eq!(c.stages[2].kind, StageKind::Collector { strategy: Strategy::FanIn { k: 4 } });
        assert_eq!(c.stages[0].concurrency, 4);
    }

    #[test]
    fn a_cycle_is_named_with_its_stages_and_line() {
        let e = err(
            "[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"noop\"\n\
                     [[stage]]\nname = \"b\"\nkind = \"dispatcher\"\ninput = \"q2\"\noutput = \"q1\"\nprover = \"noop\"\n\
                     [[stage]]\nname = \"c\"\nkind = \"dispatcher\"\ninput = \"in\"\noutput = \"q1\"\nprover = \"noop\"\n",
        );
        assert!(e.contains("cycle: a -> b -> a"), "{e}");
        assert!(e.starts_with("line 2:"), "{e}");
        let self_loop =
            err("[[stage]]\nname = \"s\"\nkind = \"dispatcher\"\ninput = \"q\"\noutput = \"q\"\nprover = \"noop\"\n");
        assert!(self_loop.contains("cycle: s -> s") || self_loop.contains("no input queue"), "{self_loop}");
    }

    #[test]
    fn unknown_queue_and_missing_prover_are_named() {
        let e = err(
            "inputs = [\"blocks\"]\n[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"blokcs\"\noutput = \"q2\"\nprover = \"noop\"\n",
        );
        assert!(e.contains("unknown queue \"blokcs\"") && e.starts_with("line 5:"), "{e}");
        let e = err("[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\n");
        assert!(e.contains("dispatcher stage \"a\" has no prover") && e.starts_with("line 2:"), "{e}");
        let e =
            err("[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"sp9\"\n");
        assert!(e.contains("unknown prover \"sp9\"") && e.starts_with("line 6:"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_with_lines() {
        let base = "[[stage]]\nname = \"a\"\nkind = \"collector\"\ninput = [\"x\", \"y\"]\noutput = \"z\"\n";
        assert!(err(&format!("{base}strategy = \"fan-in\"\n")).contains("needs k"));
        assert!(err(&format!("{base}strategy = \"fan-in\"\nk = 0\n")).contains("k must be at least 1"));
        assert!(err(&format!("{base}strategy = \"zip\"\n")).contains("unknown strategy"));
        assert!(
            err(&format!("{base}strategy = \"first-k-distinct\"\nk = 2\ndeadline = \"soon\"\n"))
                .contains("invalid duration")
        );
        assert!(err(&format!("{base}strategy = \"match\"\nprover = \"noop\"\n")).contains("not a prover"));
        assert!(err(&format!("{base}strategy = \"match\"\ncolour = 1\n")).contains("unknown field"));
        assert!(
            err("[[stage]]\nname = \"a\"\nkind = \"collector\"\ninput = \"x\"\noutput = \"z\"\nstrategy = \"match\"\n")
                .contains("two or more")
        );
        assert!(err("ordering = \"fifo\"\n[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"noop\"\n").starts_with("line 1: unknown ordering"));
        assert!(err("[[stage]\n").starts_with("line 1:"));
        assert!(err("").contains("no [[stage]]"));
    }
}
