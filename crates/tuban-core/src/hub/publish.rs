//! Putting a project on a hub and making local copies of it.
//!
//! `publish` uploads every patch (fields as the audit log writes them, the issued and verified
//! geometry in PostGIS so QGIS shows progress live) and the base files: the whole project and
//! one copy per township, each a complete tuban project as it was at publishing. `join`
//! downloads the base its user may read (an analyst: their township's), links it to the hub and
//! pulls what changed since.

use std::path::Path;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use serde_json::{Map, Value as Json};

use super::{cancelled, schema, sync, Hub, HubError};
use crate::ops::package::{groups, GroupBy};
use crate::store::{Access, MergeReceipt, Project};
use tuban_model::progress::Progress;

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Patches uploaded.
    pub patches: usize,
    /// Base files: the whole project, then each township's (label, patches).
    pub bases: Vec<(String, usize)>,
}

/// Uploads `project` to an initialised, empty hub, in one transaction.
pub fn publish(project: &Project, hub: &mut Hub, progress: &Progress) -> Result<Published, HubError> {
    let info = schema::check(hub, None)?;
    let ours = project.project_uid()?;
    if let Some(uid) = info.project_uid {
        let name = info.project_name.unwrap_or_default();
        return Err(if uid == ours {
            HubError::Invalid(format!("{}: 本项目已发布在此中心库（“{name}”），请用 `tuban hub join` 和 `tuban hub sync` / this project is already on the hub (“{name}”): use `tuban hub join` and `tuban hub sync`", hub.server))
        } else {
            HubError::OtherProject { server: hub.server.clone(), name }
        });
    }
    let name = format!(
        "{} {} {}",
        project.meta().county_name,
        project.meta().year,
        project.path().file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default()
    );
    let total = project.patch_count()?;
    progress.stage("上传图斑 / uploading patches", total as u64);
    let (server, user) = (hub.server.clone(), hub.user.clone());
    let pg = |e| HubError::from_pg(&server, &user, e);
    let mut tx = hub.client.transaction().map_err(pg)?;
    tx.batch_execute(
        "CREATE TEMP TABLE upload (uid text, key text, township text, status text, verdict text, fields jsonb, \
         geom text, verified text) ON COMMIT DROP",
    )
    .map_err(pg)?;
    let mut uploaded = 0usize;
    {
        let sink = tx.copy_in("COPY upload FROM STDIN BINARY").map_err(pg)?;
        let types = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::JSONB, Type::TEXT, Type::TEXT];
        let mut w = BinaryCopyInWriter::new(sink, &types);
        let mut after = 0;
        loop {
            let rows = project.hub_rows(after, 5000)?;
            let Some(last) = rows.last() else { break };
            after = last.fid;
            for r in &rows {
                let fields: Map<String, Json> = r
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().map(Json::String).unwrap_or(Json::Null)))
                    .collect();
                let fields = Json::Object(fields);
                let verified = r.fields.get(crate::store::SYNCED_COLUMNS[0]).cloned().flatten();
                w.write(&[&r.uid, &r.key, &r.township, &r.status, &r.verdict, &fields, &r.geom_wkt, &verified])
                    .map_err(pg)?;
            }
            uploaded += rows.len();
            progress.set(uploaded as u64).map_err(|_| cancelled())?;
        }
        w.finish().map_err(pg)?;
    }
    tx.batch_execute(
        "INSERT INTO tuban.patches(uid, key, township, review_status, verdict, fields, geom, verified_geom) \
         SELECT uid, key, township, status, verdict, fields, ST_GeomFromText(geom, 4490), ST_GeomFromText(verified, 4490) FROM upload",
    )
    .map_err(pg)?;
    // The base files, one at a time (a county's whole project can be hundreds of megabytes).
    // A template without a township field has no shares: only the whole project is published.
    let shares = match groups(project, &GroupBy::Township) {
        Ok(g) => g,
        Err(crate::ops::OpsError::Store(e)) => return Err(HubError::Store(e)),
        Err(_) => Default::default(),
    };
    progress.stage("上传基础副本 / uploading base copies", shares.len() as u64 + 1);
    let tmp = tempfile::tempdir().map_err(|e| HubError::Io { path: "temp".into(), cause: e })?;
    let mut bases = Vec::new();
    let whole: (String, Option<Vec<i64>>) = (String::new(), None);
    for (i, (township, fids)) in std::iter::once(whole).chain(shares.into_iter().map(|(t, f)| (t, Some(f)))).enumerate()
    {
        progress.set(i as u64).map_err(|_| cancelled())?;
        let out = tmp.path().join(format!("base-{i}.gpkg"));
        project.write_copy(&out, fids.as_deref())?;
        let bytes = std::fs::read(&out).map_err(|e| HubError::Io { path: out.display().to_string(), cause: e })?;
        let _ = std::fs::remove_file(&out);
        let n = fids.as_ref().map(Vec::len).unwrap_or(uploaded);
        tx.execute(
            "INSERT INTO tuban.base_files(township, bytes, patches) VALUES ($1, $2, $3)",
            &[&township, &bytes, &(n as i32)],
        )
        .map_err(pg)?;
        bases.push((township, n));
    }
    tx.execute(
        "INSERT INTO tuban.meta(key, value) VALUES ('project_uid', $1), ('project_name', $2), ('published_at', now()::text), ('published_by', current_user)",
        &[&ours, &name],
    )
    .map_err(pg)?;
    tx.commit().map_err(pg)?;
    Ok(Published { patches: uploaded, bases })
}

/// What a join made.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The township copied (None: the whole project).
    pub township: Option<String>,
    /// Patches in the copy.
    pub patches: usize,
    /// The first pull (changes made since publishing).
    pub pulled: MergeReceipt,
}

/// Makes `out` a local working copy of the hub's project linked to it: the base file the user
/// may read (an analyst always gets their township's; others the whole project or `township`),
/// then a first pull. `out` must not exist; nothing is left behind when it fails.
pub fn join(hub: &mut Hub, out: &Path, township: Option<&str>, progress: &Progress) -> Result<Joined, HubError> {
    let info = schema::check(hub, None)?;
    if info.project_uid.is_none() {
        return Err(HubError::Invalid(format!(
            "{}: 中心库还没有项目，请先 `tuban hub publish` / the hub holds no project yet: run `tuban hub publish` first",
            hub.server
        )));
    }
    if out.exists() {
        return Err(HubError::Store(crate::store::StoreError::Exists { path: out.display().to_string() }));
    }
    let (kind, own) = hub.whoami()?;
    let want = match (kind.as_deref(), township) {
        (Some("analyst"), Some(t)) if Some(t) != own.as_deref() => {
            return Err(HubError::Forbidden {
                server: hub.server.clone(),
                user: hub.user.clone(),
                detail: format!(
                    "只能领取本乡镇（{}）的图斑，不能领取 {t} / may only take their own township ({}), not {t}",
                    own.clone().unwrap_or_default(),
                    own.clone().unwrap_or_default()
                ),
            })
        }
        (Some("analyst"), _) => own.clone().unwrap_or_default(),
        (None, _) => {
            return Err(HubError::Forbidden {
                server: hub.server.clone(),
                user: hub.user.clone(),
                detail: "不是本中心库的用户（请管理员用 `tuban hub user add` 添加） / not a user of this hub (ask the administrator to add them with `tuban hub user add`)".into(),
            })
        }
        (_, t) => t.unwrap_or_default().to_string(),
    };
    progress.stage("下载基础副本 / downloading the base copy", 1);
    let row = hub
        .query_opt("SELECT bytes, patches FROM tuban.base_files WHERE township = $1", &[&want])
        .map_err(|e| hub.error(e))?;
    let Some(row) = row else {
        return Err(HubError::Invalid(format!(
            "{}: 中心库没有乡镇“{want}”的图斑 / the hub has no patches of township “{want}”",
            hub.server
        )));
    };
    let bytes: Vec<u8> = row.get(0);
    let patches = row.get::<_, i32>(1) as usize;
    crate::atomic::write_file(out, &bytes, crate::atomic::Overwrite::Refuse)
        .map_err(|e| HubError::Io { path: out.display().to_string(), cause: std::io::Error::other(e.to_string()) })?;
    let made = (|| -> Result<Joined, HubError> {
        let client_id = crate::receipt::random_hex(16);
        let file = out.display().to_string();
        hub.client
            .execute("INSERT INTO tuban.clients(id, file) VALUES ($1, $2)", &[&client_id, &file])
            .map_err(|e| hub.error(e))?;
        let mut project = Project::open(out, Access::ReadWrite)?;
        project.rebase_imagery()?;
        let t = (!want.is_empty()).then_some(want.as_str());
        project.set_hub_link(&hub.url, &client_id, t)?;
        let pulled = sync::sync(hub, &mut project, progress)?.pulled;
        Ok(Joined { township: t.map(str::to_string), patches, pulled })
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(out);
        for ext in ["gpkg-wal", "gpkg-shm", "gpkg.lock"] {
            let _ = std::fs::remove_file(out.with_extension(ext));
        }
    }
    made
}
