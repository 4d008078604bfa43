//! GPU inventory, read from `nvidia-smi --query-gpu` (present wherever the
//! NVIDIA driver is; no NVML binding to build against).

use std::process::Command;

use serde::Serialize;

pub use crate::error::DevicesError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    pub memory_mib: Option<u64>,
    pub memory_used_mib: Option<u64>,
    pub utilization_pct: Option<u64>,
}

/// The GPUs this machine has, or why none could be listed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    pub gpus: Vec<Gpu>,
    /// Set when there are no GPUs: why (no driver, nvidia-smi failed, …).
    pub note: Option<String>,
}

const QUERY: &str = "--query-gpu=index,name,memory.total,memory.used,utilization.gpu";

pub fn inventory() -> Inventory {
    match Command::new("nvidia-smi").args([QUERY, "--format=csv,noheader,nounits"]).output() {
        Err(e) => Inventory { gpus: vec![], note: Some(format!("nvidia-smi not available ({e})")) },
        Ok(out) if !out.status.success() => Inventory {
            gpus: vec![],
            note: Some(format!("nvidia-smi failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        },
        Ok(out) => match parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)) {
            Ok(gpus) if gpus.is_empty() => Inventory { gpus, note: Some("nvidia-smi listed no GPU".into()) },
            Ok(gpus) => Inventory { gpus, note: None },
            Err(e) => Inventory { gpus: vec![], note: Some(e.to_string()) },
        },
    }
}

/// Parses `index, name, memory.total, memory.used, utilization.gpu` lines;
/// `[N/A]` fields (some cards do not report utilisation) become `None`.
pub fn parse_nvidia_smi(csv: &str) -> Result<Vec<Gpu>, DevicesError> {
    csv.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [index, name, total, used, util] = f[..] else {
                return Err(DevicesError::Line { line: line.into() });
            };
            let index = index.parse().map_err(|source| DevicesError::Index { line: line.into(), source })?;
            let num = |s: &str| s.parse::<u64>().ok();
            Ok(Gpu {
                index,
                name: name.to_string(),
                memory_mib: num(total),
                memory_used_mib: num(used),
                utilization_pct: num(util),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_nvidia_smi_output() {
        let csv = "0, NVIDIA H100 80GB HBM3, 81559, 4, 0\n1, NVIDIA GeForce RTX 5090, 32607, 1200, [N/A]\n";
        let gpus = parse_nvidia_smi(csv).unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!((gpus[0].index, gpus[0].memory_mib, gpus[0].utilization_pct), (0, Some(81559), Some(0)));
        assert_eq!((gpus[1].index, gpus[1].utilization_pct), (1, None));
        assert!(parse_nvidia_smi("garbage").unwrap_err().to_string().contains("unexpected nvidia-smi line"));
        let e = parse_nvidia_smi("x, a, 1, 2, 3").unwrap_err();
        assert!(matches!(e, DevicesError::Index { .. }) && e.to_string().contains("index"), "{e}");
    }
}
