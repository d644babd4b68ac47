//! Work packages: a complete project holding a share of the patches (a township, a village, a
//! reviewer's, a query's), written from the master for someone to verify offline and merged back
//! later (`merge.rs`). A package keeps the master's `project_uid`, gets a `package_id` of its own
//! and the master's audit high-water mark at creation (`package_base_audit`): its own changes are
//! the audit rows after it. The master records the checkouts, one row per patch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};

/// What a package is, as its `tuban_meta` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package's own id.
    pub package_id: String,
    /// What it holds, in words (a township's name, a reviewer, a query).
    pub label: String,
    /// The uid of the project it came from (the master's `project_uid`).
    pub project_uid: String,
    /// The master's audit high-water mark when the package was written.
    pub base_audit: i64,
    /// When it was written (UTC).
    pub created_at: String,
    /// The master's file, as it was called then.
    pub source: String,
}

/// A patch checked out to a package (master side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Patch key.
    pub key: String,
    /// The package's label.
    pub label: String,
    /// The package's id.
    pub package_id: String,
}

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM tuban_meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

/// The package keys of a project file's `tuban_meta` (`None` for a project that is no package).
pub(crate) fn read_info(conn: &Connection) -> rusqlite::Result<Option<PackageInfo>> {
    let Some(package_id) = meta(conn, "package_id")? else { return Ok(None) };
    Ok(Some(PackageInfo {
        package_id,
        label: meta(conn, "package_label")?.unwrap_or_default(),
        project_uid: meta(conn, "project_uid")?.unwrap_or_default(),
        base_audit: meta(conn, "package_base_audit")?.and_then(|s| s.parse().ok()).unwrap_or(0),
        created_at: meta(conn, "package_created_at")?.unwrap_or_default(),
        source: meta(conn, "package_source")?.unwrap_or_default(),
    }))
}

impl Project {
    /// The project's own uid (shared by its packages).
    pub fn project_uid(&self) -> Result<String> {
        Ok(meta(&self.conn, "project_uid").map_err(self.sq())?.unwrap_or_default())
    }

    /// What this project is as a package, or `None` for a master.
    pub fn package_info(&self) -> Result<Option<PackageInfo>> {
        read_info(&self.conn).map_err(self.sq())
    }

    /// Writes a package holding the patches `fids` (with the records their 细斑 came from),
    /// their photos, comments and cases, to `out` (refused if it exists), and checks those
    /// patches out to it. The file appears whole or not at all.
    pub fn write_package(&mut self, out: &Path, label: &str, fids: &[i64]) -> Result<PackageInfo> {
        self.require_write()?;
        if out.exists() {
            return Err(StoreError::Exists { path: out.display().to_string() });
        }
        let keep = self.with_ancestors(fids)?;
        let base_audit: i64 =
            self.conn.query_row("SELECT coalesce(max(id), 0) FROM tuban_audit", [], |r| r.get(0)).map_err(self.sq())?;
        let info = PackageInfo {
            package_id: random_uid(&self.conn).map_err(self.sq())?,
            label: label.to_string(),
            project_uid: self.project_uid()?,
            base_audit,
            created_at: now_utc(),
            source: self.path_str(),
        };
        self.write_pruned(out, Some(&keep), Some(&info))?;
        self.record_checkouts(&info, out, fids)?;
        Ok(info)
    }

    /// Writes a copy of the project to `out` (refused if it exists) holding only the patches
    /// `fids` with the records their 细斑 came from and what belongs to them (all of them with
    /// `None`), without the write lock, checkouts, conflicts and merges: the base a hub hands
    /// to those who join. The file appears whole or not at all.
    pub fn write_copy(&self, out: &Path, fids: Option<&[i64]>) -> Result<()> {
        let keep = fids.map(|f| self.with_ancestors(f)).transpose()?;
        self.write_pruned(out, keep.as_ref(), None)
    }

    fn write_pruned(&self, out: &Path, keep: Option<&BTreeSet<i64>>, info: Option<&PackageInfo>) -> Result<()> {
        let out_s = out.display().to_string();
        if out.exists() {
            return Err(StoreError::Exists { path: out_s });
        }
        let tmp = out.with_extension("gpkg.writing");
        let _ = std::fs::remove_file(&tmp);
        let written = (|| -> rusqlite::Result<()> {
            self.conn.execute("VACUUM INTO ?1", [tmp.display().to_string()])?;
            let c = Connection::open(&tmp)?;
            super::rtree::register_functions(&c)?;
            prune(&c, keep, info)?;
            c.execute_batch("VACUUM")?;
            c.close().map_err(|(_, e)| e)
        })();
        if let Err(cause) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Sqlite { path: out_s, cause });
        }
        std::fs::rename(&tmp, out).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io { path: out_s.clone(), cause: e }
        })
    }

    /// `fids` and every record a 细斑 among them was split from.
    fn with_ancestors(&self, fids: &[i64]) -> Result<BTreeSet<i64>> {
        let mut keep: BTreeSet<i64> = fids.iter().copied().collect();
        let mut frontier: Vec<i64> = fids.to_vec();
        while let Some(f) = frontier.pop() {
            if let Some(parent) = self.patch(f)?.and_then(|r| r.parent_fid) {
                if keep.insert(parent) {
                    frontier.push(parent);
                }
            }
        }
        Ok(keep)
    }

    fn record_checkouts(&mut self, info: &PackageInfo, out: &Path, fids: &[i64]) -> Result<()> {
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let user = self.user().to_string();
        let tx = self.conn.transaction().map_err(sq)?;
        for fid in fids {
            tx.execute(
                "INSERT OR REPLACE INTO tuban_checkouts(patch_uid, package_id, label, path, at, user) \
                 SELECT uid, ?1, ?2, ?3, ?4, ?5 FROM patches WHERE fid = ?6",
                params![info.package_id, info.label, out.display().to_string(), info.created_at, user, fid],
            )
            .map_err(sq)?;
        }
        tx.execute(
            "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'package', ?3, 'package')",
            params![
                info.created_at,
                user,
                format!("{} {} ({} 图斑) → {}", info.package_id, info.label, fids.len(), out.display())
            ],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Row id → the label of the package each checked-out patch is in (one query).
    pub fn checked_out(&self) -> Result<std::collections::HashMap<i64, String>> {
        let mut st = self
            .conn
            .prepare("SELECT p.fid, c.label FROM tuban_checkouts c JOIN patches p ON p.uid = c.patch_uid")
            .map_err(self.sq())?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sq())
    }

    /// Patches checked out to packages, in row order.
    pub fn checkouts(&self) -> Result<Vec<Checkout>> {
        let mut st = self
            .conn
            .prepare("SELECT p.fid, c.label, c.package_id FROM tuban_checkouts c JOIN patches p ON p.uid = c.patch_uid ORDER BY p.fid")
            .map_err(self.sq())?;
        let rows: Vec<(i64, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sq())?;
        let keys: std::collections::HashMap<i64, String> =
            self.patches_with_split()?.into_iter().map(|r| (r.fid, r.key)).collect();
        Ok(rows
            .into_iter()
            .map(|(fid, label, package_id)| Checkout {
                key: keys.get(&fid).cloned().unwrap_or_else(|| format!("#{fid}")),
                label,
                package_id,
            })
            .collect())
    }

    /// Takes back the checkouts of a package (by id or label); returns how many patches.
    pub fn revoke_package(&mut self, package: &str) -> Result<usize> {
        self.require_write()?;
        let n = self
            .conn
            .execute("DELETE FROM tuban_checkouts WHERE package_id = ?1 OR label = ?1", [package])
            .map_err(self.sq())?;
        if n == 0 {
            return Err(StoreError::Subpatch {
                detail: format!(
                    "{}: 没有签出到工作包 {package} 的图斑 / no patches are checked out to package {package}",
                    self.path_str()
                ),
            });
        }
        self.conn
            .execute(
                "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'package', ?3, 'package_revoke')",
                params![now_utc(), self.user(), format!("{package} ({n})")],
            )
            .map_err(self.sq())?;
        Ok(n)
    }

    /// Re-stores every imagery path relative to where the project is now (after it was copied
    /// elsewhere as a package), keeping the absolute paths that still resolve.
    pub fn rebase_imagery(&mut self) -> Result<usize> {
        let sources = self.imagery()?;
        let mut n = 0;
        for s in sources {
            let found: Vec<PathBuf> =
                s.files.iter().map(|f| f.found().map(Path::to_path_buf).unwrap_or_else(|| f.known.clone())).collect();
            let mut k = 0;
            let spec = super::imagery::map_spec_paths(&s.spec, |p| {
                let q = found.get(k).cloned().unwrap_or_else(|| p.to_path_buf());
                k += 1;
                q
            });
            let json = self.imagery_json(&spec);
            n += self
                .conn
                .execute("UPDATE tuban_imagery SET spec = ?1 WHERE name = ?2", params![json, s.name])
                .map_err(self.sq())?;
        }
        Ok(n)
    }
}

/// A fresh 128-bit uid from SQLite's random source (as the insert triggers make them).
pub(crate) fn random_uid(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row(&format!("SELECT {}", super::schema::NEW_UID), [], |r| r.get(0))
}

/// Leaves in the copy only the patches `keep` (all with `None`) and what belongs to them, and
/// marks it as a package when `info` is given.
fn prune(c: &Connection, keep: Option<&BTreeSet<i64>>, info: Option<&PackageInfo>) -> rusqlite::Result<()> {
    c.execute_batch("BEGIN; CREATE TEMP TABLE keep(fid INTEGER PRIMARY KEY);")?;
    match keep {
        Some(keep) => {
            let mut ins = c.prepare("INSERT INTO keep(fid) VALUES (?1)")?;
            for f in keep {
                ins.execute([f])?;
            }
        }
        None => c.execute_batch("INSERT INTO keep(fid) SELECT fid FROM patches")?,
    }
    c.execute_batch(
        "DELETE FROM patches WHERE fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_source_geom WHERE fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_photos WHERE patch_fid IS NULL OR patch_fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_comments WHERE patch_fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_case_patches WHERE patch_fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_cases WHERE id NOT IN (SELECT case_id FROM tuban_case_patches);
         DELETE FROM tuban_case_steps WHERE case_id NOT IN (SELECT id FROM tuban_cases);
         DELETE FROM tuban_case_attachments WHERE case_id NOT IN (SELECT id FROM tuban_cases);
         DELETE FROM tuban_spotcheck_items WHERE patch_fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_audit WHERE patch_fid IS NOT NULL AND patch_fid NOT IN (SELECT fid FROM keep);
         DELETE FROM tuban_checkouts; DELETE FROM tuban_conflicts; DELETE FROM tuban_merges;
         DELETE FROM tuban_session; DELETE FROM tuban_hub_shadow; DELETE FROM tuban_hub_pending;
         DELETE FROM tuban_hub_syncs; DELETE FROM tuban_meta WHERE key LIKE 'hub!_%' ESCAPE '!';",
    )?;
    let Some(info) = info else { return c.execute_batch("DROP TABLE temp.keep; COMMIT;") };
    for (k, v) in [
        ("package_id", info.package_id.clone()),
        ("package_label", info.label.clone()),
        ("package_base_audit", info.base_audit.to_string()),
        ("package_created_at", info.created_at.clone()),
        ("package_source", info.source.clone()),
    ] {
        c.execute("INSERT OR REPLACE INTO tuban_meta(key, value) VALUES (?1, ?2)", params![k, v])?;
    }
    c.execute_batch("DROP TABLE temp.keep; COMMIT;")
}
