//! `/api/v0/clusters`: create, list and update a team's clusters
//! (specs/submission.md §4). A cluster's id is the team's own small index; a
//! new `zkvm_version_id` or `vk_path` starts a new cluster version.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use slotproof_primitives::now_ms;
use slotproof_submit::api::iso8601;
use tracing::info;

use crate::reply::{Fields, Refusal, body_object, failed, invalid, refuse};
use crate::state::{AppState, Team};
use crate::store::{Cluster, cluster_key, cluster_prefix, uuid_of};

pub async fn create_cluster(
    State(s): State<Arc<AppState>>,
    Extension(team): Extension<Arc<Team>>,
    body: axum::body::Bytes,
) -> Response {
    create(&s, &team.id, &body).unwrap_or_else(|r| *r)
}

pub async fn list_clusters(State(s): State<Arc<AppState>>, Extension(team): Extension<Arc<Team>>) -> Response {
    list(&s, &team.id).unwrap_or_else(|r| *r)
}

pub async fn update_cluster(
    State(s): State<Arc<AppState>>,
    Extension(team): Extension<Arc<Team>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    update(&s, &team.id, &id, &body).unwrap_or_else(|r| *r)
}

/// The checked fields of a `POST /clusters` body.
struct NewCluster {
    name: String,
    zkvm_version_id: u64,
    num_gpus: u64,
    hardware_description: Option<String>,
    deployment_type: String,
}

fn parse_new(f: &Fields<'_>) -> Result<NewCluster, Refusal> {
    f.only(&["name", "zkvm_version_id", "num_gpus", "hardware_description", "deployment_type"])?;
    let name = f.string("name", Some(50))?.ok_or_else(|| invalid("name is required"))?;
    let zkvm_version_id = f.integer("zkvm_version_id", true)?.unwrap_or(0);
    let num_gpus = f.integer("num_gpus", false)?.unwrap_or(1);
    let hardware_description = f.string("hardware_description", Some(200))?;
    let deployment_type = f.string("deployment_type", None)?.unwrap_or_else(|| "cloud-hosted".into());
    if !["cloud-hosted", "on-prem"].contains(&deployment_type.as_str()) {
        return Err(invalid("deployment_type must be cloud-hosted or on-prem"));
    }
    Ok(NewCluster { name, zkvm_version_id, num_gpus, hardware_description, deployment_type })
}

fn create(s: &AppState, team: &str, body: &[u8]) -> Result<Response, Refusal> {
    let new = parse_new(&Fields(&body_object(body)?))?;
    let _w = s.write_lock();
    let index = s.store.next_id(&format!("counter/cluster/{team}")).map_err(failed)?;
    let cluster = Cluster {
        index,
        uuid: uuid_of(&[team, &index.to_string()]),
        name: new.name,
        zkvm_version_id: new.zkvm_version_id,
        num_gpus: new.num_gpus,
        hardware_description: new.hardware_description,
        deployment_type: new.deployment_type,
        is_active: true,
        vk_path: None,
        version: 1,
        created_at: iso8601(now_ms()),
    };
    s.store.put(&cluster_key(team, index), &cluster).map_err(failed)?;
    info!(target: "slotproof::ethproofs_server", team = %team, cluster = index, name = %cluster.name, "cluster created");
    Ok(axum::Json(json!({"id": index})).into_response())
}

fn list(s: &AppState, team: &str) -> Result<Response, Refusal> {
    let clusters = s.store.scan::<Cluster>(&cluster_prefix(team)).map_err(failed)?;
    let rows: Vec<_> = clusters
        .iter()
        .map(|c| json!({"id": c.index, "name": c.name, "hardware_description": c.hardware_description}))
        .collect();
    Ok(axum::Json(rows).into_response())
}

fn update(s: &AppState, team: &str, id: &str, body: &[u8]) -> Result<Response, Refusal> {
    let Ok(index) = id.parse::<u64>() else { return Err(refuse(StatusCode::NOT_FOUND, "Cluster not found")) };
    let obj = body_object(body)?;
    if obj.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    let _w = s.write_lock();
    let key = cluster_key(team, index);
    let Some(mut cluster) = s.store.get::<Cluster>(&key).map_err(failed)? else {
        return Err(refuse(StatusCode::NOT_FOUND, "Cluster not found"));
    };
    apply_update(&mut cluster, &Fields(&obj))?;
    s.store.put(&key, &cluster).map_err(failed)?;
    Ok(axum::Json(json!({"success": true})).into_response())
}

/// Applies a `PATCH` body to `c`; nothing is stored when a field is refused.
fn apply_update(c: &mut Cluster, f: &Fields<'_>) -> Result<(), Refusal> {
    f.only(&["name", "num_gpus", "hardware_description", "is_active", "zkvm_version_id", "vk_path"])?;
    if let Some(n) = f.string("name", Some(50))? {
        c.name = n;
    }
    if let Some(g) = f.integer("num_gpus", false)? {
        if (g > 1) != (c.num_gpus > 1) {
            return Err(invalid("num_gpus cannot cross the single/multi-GPU boundary"));
        }
        c.num_gpus = g;
    }
    if let Some(h) = f.string("hardware_description", Some(200))? {
        c.hardware_description = Some(h);
    }
    if let Some(active) = f.boolean("is_active")? {
        c.is_active = active;
    }
    let mut new_version = false;
    if let Some(z) = f.integer("zkvm_version_id", false)? {
        new_version |= z != c.zkvm_version_id;
        c.zkvm_version_id = z;
    }
    if let Some(vk) = f.string("vk_path", None)? {
        new_version |= c.vk_path.as_deref() != Some(vk.as_str());
        c.vk_path = Some(vk);
    }
    if new_version {
        c.version += 1;
    }
    Ok(())
}
