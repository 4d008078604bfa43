//! Pipeline definitions in TOML (specs/pipeline.md §2): reads the text into
//! typed stages, then hands them to the same checks as a definition built in
//! code (`PipelineConfig::checked`), so both are refused for the same reasons.
//! Owns only what text can get wrong (syntax, unknown kinds and strategies,
//! missing keys, bad durations) and the line each problem is reported on.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use slotproof_primitives::duration::parse_duration;
use toml::Spanned;

use crate::config::{
    DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT, Ordering, PipelineConfig, StageConfig, StageKind, Strategy,
};
use crate::error::{ConfigError, Problem};

/// A realtime pipeline's default distance before a block is stale.
const DEFAULT_STALE_AFTER_BLOCKS: u64 = 32;
/// A first-k-distinct collector's default deadline: one slot.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(12);

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

/// The text being parsed, to turn byte spans into line numbers.
struct Source<'a>(&'a str);

impl Source<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.0[..span.start.min(self.0.len())].matches('\n').count() + 1
    }

    fn err(&self, span: Range<usize>, problem: Problem) -> ConfigError {
        ConfigError { line: Some(self.line(span)), problem }
    }
}

impl PipelineConfig {
    /// Parses and checks a TOML definition. `known_prover` says whether a
    /// prover name can be built by this node. Errors name their line.
    pub fn parse(text: &str, known_prover: &dyn Fn(&str) -> bool) -> Result<PipelineConfig, ConfigError> {
        let src = Source(text);
        let raw: RawPipeline = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| src.line(s));
            ConfigError { line, problem: Problem::Toml(e) }
        })?;
        let ordering = match raw.ordering.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("realtime", _)) => {
                Ordering::Realtime { stale_after_blocks: raw.stale_after_blocks.unwrap_or(DEFAULT_STALE_AFTER_BLOCKS) }
            }
            Some(("sequential", _)) => Ordering::Sequential,
            Some((other, span)) => return Err(src.err(span, Problem::UnknownOrdering(other.to_string()))),
        };
        let stages = raw.stages.iter().map(|s| stage(&src, s)).collect::<Result<Vec<_>, _>>()?;
        let name = raw.name.clone().unwrap_or_else(|| "default".into());
        let declared = raw.inputs.as_ref().map(|i| i.get_ref().clone());
        PipelineConfig::checked(name, ordering, stages, declared, known_prover)
            .map_err(|problem| ConfigError { line: line_of(&src, &raw, &problem), problem })
    }
}

/// One `[[stage]]` table as a typed stage; only what the text can get wrong is
/// checked here, the rest by `PipelineConfig::checked`.
fn stage(src: &Source<'_>, s: &RawStage) -> Result<StageConfig, ConfigError> {
    let name = s.name.get_ref().clone();
    let missing = |key| src.err(s.name.span(), Problem::MissingKey { stage: name.clone(), key });
    let inputs = match s.input.as_ref().ok_or_else(|| missing("input"))?.get_ref() {
        OneOrMany::One(q) => vec![q.clone()],
        OneOrMany::Many(qs) => qs.clone(),
    };
    let output = s.output.as_ref().ok_or_else(|| missing("output"))?.get_ref().clone();
    let kind = match s.kind.get_ref().as_str() {
        "dispatcher" => dispatcher_kind(src, s)?,
        "collector" => StageKind::Collector { strategy: strategy(src, s)? },
        other => {
            let problem = Problem::UnknownKind { stage: name.clone(), kind: other.to_string() };
            return Err(src.err(s.kind.span(), problem));
        }
    };
    Ok(StageConfig {
        kind,
        inputs,
        output,
        concurrency: s.concurrency.as_ref().map_or(1, |c| *c.get_ref()),
        timeout: duration(src, s, &s.timeout, "timeout", DEFAULT_TIMEOUT)?,
        max_attempts: s.max_attempts.as_ref().map_or(DEFAULT_MAX_ATTEMPTS, |m| *m.get_ref()),
        name,
    })
}

fn dispatcher_kind(src: &Source<'_>, s: &RawStage) -> Result<StageKind, ConfigError> {
    let stage = s.name.get_ref().clone();
    if let Some(st) = &s.strategy {
        return Err(src.err(st.span(), Problem::StrategyOnDispatcher { stage }));
    }
    match &s.prover {
        Some(prover) => Ok(StageKind::Dispatcher { prover: prover.get_ref().clone() }),
        None => Err(src.err(s.name.span(), Problem::NoProver { stage })),
    }
}

/// An optional duration key of stage `s`.
fn duration(
    src: &Source<'_>,
    s: &RawStage,
    value: &Option<Spanned<String>>,
    key: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    parse_duration(value.get_ref()).map_err(|e| {
        // The parser's message says what is wrong with the text.
        let problem = Problem::BadDuration { stage: s.name.get_ref().clone(), key, message: e.to_string() };
        src.err(value.span(), problem)
    })
}

/// A collector's strategy.
fn strategy(src: &Source<'_>, s: &RawStage) -> Result<Strategy, ConfigError> {
    let stage = s.name.get_ref().clone();
    if let Some(p) = &s.prover {
        return Err(src.err(p.span(), Problem::ProverOnCollector { stage }));
    }
    let Some(named) = &s.strategy else {
        return Err(src.err(s.name.span(), Problem::NoStrategy { stage }));
    };
    let k = |strategy| match &s.k {
        Some(k) => Ok(*k.get_ref()),
        None => Err(src.err(named.span(), Problem::NeedsK { stage: stage.clone(), strategy })),
    };
    match named.get_ref().as_str() {
        "fan-in" => Ok(Strategy::FanIn { k: k("fan-in")? }),
        "match" => Ok(Strategy::Match),
        "first-k-distinct" => Ok(Strategy::FirstKDistinct {
            k: k("first-k-distinct")?,
            deadline: duration(src, s, &s.deadline, "deadline", DEFAULT_DEADLINE)?,
        }),
        other => {
            let problem = Problem::UnknownStrategy { stage: stage.clone(), strategy: other.to_string() };
            Err(src.err(named.span(), problem))
        }
    }
}

/// The line a checked problem points at: the offending key of its stage when
/// the text has it, else the stage's name.
fn line_of(src: &Source<'_>, raw: &RawPipeline, problem: &Problem) -> Option<usize> {
    let named = |name: &str| raw.stages.iter().find(|s| s.name.get_ref() == name);
    let (stage, key) = match problem {
        Problem::NoStages | Problem::NoInputQueue => return None,
        Problem::DeclaredQueueName(_) => return raw.inputs.as_ref().map(|i| src.line(i.span())),
        // The second use of a name is the mistake.
        Problem::DuplicateStage(name) => {
            let second = raw.stages.iter().filter(|s| s.name.get_ref() == name).nth(1);
            return second.map(|s| src.line(s.name.span()));
        }
        Problem::EmptyName => (raw.stages.iter().find(|s| s.name.get_ref().is_empty()), None),
        Problem::Cycle(names) => (names.first().and_then(|n| named(n)), None),
        Problem::UnknownProver { stage, .. } => {
            (named(stage), named(stage).and_then(|s| s.prover.as_ref()).map(Spanned::span))
        }
        Problem::ZeroK { stage } => (named(stage), named(stage).and_then(|s| s.k.as_ref()).map(Spanned::span)),
        Problem::ZeroConcurrency { stage } => {
            (named(stage), named(stage).and_then(|s| s.concurrency.as_ref()).map(Spanned::span))
        }
        Problem::ZeroMaxAttempts { stage } => {
            (named(stage), named(stage).and_then(|s| s.max_attempts.as_ref()).map(Spanned::span))
        }
        Problem::ZeroTimeout { stage } => {
            (named(stage), named(stage).and_then(|s| s.timeout.as_ref()).map(Spanned::span))
        }
        Problem::EmptyInputList { stage }
        | Problem::StageQueueName { stage, .. }
        | Problem::DispatcherInputs { stage }
        | Problem::MatchInputs { stage }
        | Problem::UnknownQueue { stage, .. } => {
            (named(stage), named(stage).and_then(|s| s.input.as_ref()).map(Spanned::span))
        }
        // Problems of the text itself are reported where they are found.
        _ => return None,
    };
    let stage = stage?;
    Some(src.line(key.unwrap_or_else(|| stage.name.span())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(p: &str) -> bool {
        p == "noop" || p.starts_with("sleep:")
    }

    fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::parse(text, &known)
    }

    /// The error and its causes, as `{:#}` of anyhow prints them.
    fn err(text: &str) -> String {
        let Err(e) = parse(text) else { return String::new() };
        slotproof_primitives::ErrorChain(&e).to_string()
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
        let e = err(&format!("{base}strategy = \"fan-in\"\nk = 0\n"));
        assert!(e.starts_with("line 7: stage \"a\": k must be at least 1"), "{e}");
        assert!(err(&format!("{base}strategy = \"zip\"\n")).contains("unknown strategy"));
        let e = err(&format!("{base}strategy = \"first-k-distinct\"\nk = 2\ndeadline = \"soon\"\n"));
        assert!(e.starts_with("line 8:") && e.contains("invalid duration"), "{e}");
        assert!(err(&format!("{base}strategy = \"match\"\nprover = \"noop\"\n")).contains("not a prover"));
        let e = err(&format!("{base}strategy = \"match\"\ncolour = 1\n"));
        assert!(e.starts_with("line 7:") && e.contains("unknown field"), "{e}");
        assert!(
            err("[[stage]]\nname = \"a\"\nkind = \"collector\"\ninput = \"x\"\noutput = \"z\"\nstrategy = \"match\"\n")
                .contains("two or more")
        );
        let dispatcher =
            "[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"noop\"\n";
        let e = err(&format!("{dispatcher}concurrency = 0\n"));
        assert!(e.starts_with("line 7: stage \"a\": concurrency must be at least 1"), "{e}");
        let e = err(&format!("{dispatcher}timeout = \"0ms\"\n"));
        assert!(e.starts_with("line 7: stage \"a\": timeout must be longer than zero"), "{e}");
        let e = err(&format!("{dispatcher}max_attempts = 0\n"));
        assert!(e.starts_with("line 7: stage \"a\": max_attempts must be at least 1"), "{e}");
        let e = err(&format!("{dispatcher}{dispatcher}"));
        assert!(e.starts_with("line 8: stage name \"a\" is used twice"), "{e}");
        assert!(err(&format!("ordering = \"fifo\"\n{dispatcher}")).starts_with("line 1: unknown ordering"));
        assert!(err("[[stage]\n").starts_with("line 1:"));
        assert!(err("").contains("no stage defined"));
    }

    #[test]
    fn an_invalid_queue_name_keeps_the_queue_error_as_its_cause() {
        let e = parse(
            "[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q 1\"\noutput = \"q2\"\nprover = \"noop\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        let cause = std::error::Error::source(&e).map(|c| c.to_string()).unwrap_or_default();
        assert!(cause.contains("invalid queue name \"q 1\""), "{cause}");
    }
}
