//! Which zkVMs this node can check proofs of (specs/p2p.md §5): its own,
//! plus the built-in `stark` and every simulated profile, each reading the
//! block's stored proving input. Builds the set; never runs a check.

use std::collections::BTreeMap;
use std::sync::Arc;

use slotproof_zkvm::Prover;

use crate::inputs::StoredInput;
use crate::results::ResultStore;

/// Verifiers for every zkVM this node can check.
pub fn all_verifiers(
    own: &BTreeMap<String, Arc<dyn Prover>>,
    store: &Arc<ResultStore>,
    sim: slotproof_zkvm::sim::SimOptions,
) -> BTreeMap<String, Arc<dyn Prover>> {
    let mut out = own.clone();
    let mut add = |name: String, p: Arc<dyn Prover>| {
        out.entry(name).or_insert_with(|| Arc::new(StoredInput::new(p, store.clone())) as Arc<dyn Prover>);
    };
    add("stark".into(), Arc::new(slotproof_zkvm::stark::StarkProver::default()));
    for profile in slotproof_zkvm::sim::PROFILES {
        let name = format!("sim:{}", profile.name);
        if let Some(p) = slotproof_zkvm::sim::SimProver::from_name(&name, sim) {
            add(name, Arc::new(p));
        }
    }
    out
}
