//! The project file: one SQLite file that is also a valid GeoPackage 1.3.
//!
//! The `patches` feature table holds the display geometry (CGCS2000 lon/lat) and one column per
//! template field with its current value, so GDAL and QGIS read the review as a plain layer.
//! tuban's own tables (`tuban_*`) sit beside it: metadata, the template copy, import batches, the
//! delivered geometry in its own CRS, and the audit log of every change.
//!
//! Architecture invariant: every change to a project goes through [`Project`]; each edit is one
//! transaction (WAL, `synchronous=FULL`), so once a call returns the edit survives `kill -9`.
//! A project open for writing holds an exclusive `flock` on the file; a second writer is refused
//! with the name of the holder.

mod attachments;
mod audit;
mod cases;
mod conflicts;
pub(crate) mod failpoint; // test-only aimed kills inside transactions (debug builds only)
mod geometry;
mod hub;
mod imagery;
mod import;
mod ledger;
mod merge;
mod merge_cases;
mod merge_rows;
mod overlay;
mod package;
mod patches;
mod photos;
mod reference;
mod reference_index;
mod review;
mod rows;
mod rtree;
mod rtree_bulk;
mod schema;
mod seal;
mod seal_diff;
mod snapshot;
mod source_geom;
mod stats;
mod style;
mod texts;

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use tuban_model::value::ValueError;
use tuban_model::{Programme, Template, TemplateError};

pub use crate::atomic::advice_io;
pub use crate::crs::SourceCrs;
pub use attachments::{Attachment, ATTACHMENT_KINDS, ATTACHMENT_MAX_BYTES};
pub use audit::AuditEntry;
pub use cases::{Case, CaseStep, CaseUpdate};
pub use conflicts::Take;
pub use geometry::{Extent, SplitOutcome};
pub use hub::{HubLink, HubRow, Outgoing, Pulled, PushBatch, PushOutcome, SYNCED_COLUMNS};
pub use imagery::{nearest as nearest_imagery, ImagerySource, Period, Relinked};
pub use import::{BatchRecord, ImportSession, ImportSummary, NewBatch, NewPatch};
pub use merge::{Conflict, MergeReceipt};
pub use overlay::{extent_signature, Fill, FillMark, LayerOverlay};
pub use package::{Checkout, PackageInfo};
pub use patches::{EditOutcome, EditSource, PatchRecord};
pub use photos::{PhotoRecord, PHOTO_KINDS};
pub use reference::{
    encode_feature, EncodedFeature, FeatureFeed, NewReference, RefFeature, ReferenceLayer, ReferenceSource,
    StoredFeature,
};
pub use review::{cohen_kappa, Comment, Rebound, SpotCheck, SpotCheckResult, REVIEW_FLAGS};
pub use rtree::register_functions as register_sql_functions;
pub use schema::{SCHEMA_VERSION, WKT_4490};
pub use seal::{SealInfo, VerifyReport};
pub use seal_diff::{compare as compare_seal, Change, Difference, FieldChange, SealedItem};
pub use snapshot::{field_digest, hex, item_digest, total_digest, ItemId, SealItem, Snapshot, DIGEST_VERSION};
pub use stats::{ProjectSummary, Tally};
pub use style::STYLE_NAME;
pub use texts::ReportText;
pub use tuban_model::ledger::{CriminalFlag, Ledger, Rates};

/// Why a project could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (the advice names the usual causes: a full disk, a damaged file).
    #[error("{path}: 数据库错误 / database error: {cause}{}", advice_sqlite(cause))]
    Sqlite { path: String, cause: rusqlite::Error },
    /// File-system failure.
    #[error("{path}: {cause}{}", advice_io(cause))]
    Io { path: String, cause: std::io::Error },
    /// The file does not exist.
    #[error("{path}: 文件不存在 / file not found")]
    NotFound { path: String },
    /// The file is not SQLite at all.
    #[error("{path}: 不是 tuban 项目文件（不是 SQLite/GeoPackage 文件，可能已损坏） / not a tuban project (not an SQLite file; damaged?)")]
    NotSqlite { path: String },
    /// A GeoPackage (or SQLite file) that is not a tuban project.
    #[error("{path}: 这是普通 GeoPackage，不是 tuban 项目；请用 `tuban import 项目.gpkg {path}` 导入其中的图斑 / a GeoPackage that is not a tuban project: import it with `tuban import PROJECT.gpkg {path}`")]
    NotAProject { path: String },
    /// Damaged beyond reading.
    #[error(
        "{path}: 项目文件已损坏：{detail}；请用备份恢复 / the project file is damaged: {detail}; restore a backup"
    )]
    Corrupt { path: String, detail: String },
    /// Written by a newer tuban.
    #[error("{path}: 项目由更新版本的 tuban 创建（结构版本 {version}），请升级 tuban / made by a newer tuban (schema {version}); upgrade tuban")]
    TooNew { path: String, version: i64 },
    /// Another process holds the project for writing.
    #[error("{path}: 项目正由 {holder} 打开编辑；请关闭对方程序，或以只读方式打开 / open for editing by {holder}; close it there or open read-only")]
    Locked { path: String, holder: String },
    /// The project was opened read-only.
    #[error("{path}: 项目以只读方式打开，不能修改 / opened read-only; cannot change it")]
    ReadOnly { path: String },
    /// The project lies on a read-only medium or in a folder without write permission.
    #[error("{path}: 项目位于只读位置（光盘、写保护U盘或无写权限的文件夹），只能查看；要修改请先复制到可写磁盘 / the project is on a read-only medium or folder: it can be viewed; copy it to a writable disk to edit it")]
    ReadOnlyMedium { path: String },
    /// Creating over an existing file.
    #[error("{path}: 文件已存在，不会覆盖 / file exists; will not overwrite")]
    Exists { path: String },
    /// No patch with that key.
    #[error("{path}: 没有图斑 {key} / no patch {key}")]
    NoSuchPatch { path: String, key: String },
    /// No field with that name.
    #[error("模板中没有字段 {name} / the template has no field {name}")]
    NoSuchField { name: String },
    /// An issued or computed field.
    #[error("字段 {name} 为下发或自动计算字段，不能修改 / field {name} is issued or computed and cannot be edited")]
    FieldReadOnly { name: String },
    /// A value that does not fit its field.
    #[error("字段 {name}: {cause}")]
    InvalidValue { name: String, cause: ValueError },
    /// The stored template is broken.
    #[error("{path}: 项目中的模板无效 / the project's template is invalid: {cause}")]
    Template { path: String, cause: TemplateError },
    /// The project is sealed.
    #[error("{path}: 项目已于 {at} 由 {by} 封库，不能修改；如确需修改，请先用 `tuban unseal --reason 原因` 解封 / sealed by {by} at {at}; unseal with a written reason first")]
    Sealed { path: String, by: String, at: String },
    /// A case operation that the ledger rules refuse.
    #[error("{detail}")]
    InvalidCase { detail: String },
    /// Unsealing needs a reason.
    #[error("解封必须写明原因（至少 4 个字） / unsealing needs a written reason")]
    ReasonRequired,
    /// An issued record that was split into 细斑: its 细斑 are edited instead.
    #[error("图斑 {key} 已拆分为细斑 {subpatches}：请编辑细斑，或用 `tuban merge-subpatches` 合并后再编辑 / patch {key} was split into {subpatches}: edit those, or merge them back first")]
    SplitRecord { key: String, subpatches: String },
    /// A geometry that cannot be saved (the message says why and what to do).
    #[error("{key}: {cause}")]
    InvalidGeometry { key: String, cause: tuban_model::geometry::edit::GeometryError },
    /// A 细斑 operation the project's data refuses (merging 细斑 held by a case …).
    #[error("{detail}")]
    Subpatch { detail: String },
    /// A delivered geometry that cannot be rebuilt from what the file holds.
    #[error("{path}: 图斑 fid {fid} 的下发几何无法还原（{cause}）；请用原下发文件重新导入（补充下发）/ the delivered geometry of patch fid {fid} cannot be rebuilt ({cause}); import the delivered file again")]
    Delivered { path: String, fid: i64, cause: tuban_model::geometry::delivered::DeliveredError },
    /// The job was cancelled; nothing was written.
    #[error("已取消，项目未改变 / cancelled; the project is unchanged")]
    Cancelled,
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Open for writing (exclusive) or only for reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Exclusive writer.
    ReadWrite,
    /// Reader; works while another process writes.
    ReadOnly,
}

/// Project metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectMeta {
    /// The programme.
    pub programme: Programme,
    /// 6-digit county code.
    pub county_code: String,
    /// County name.
    pub county_name: String,
    /// Monitoring year.
    pub year: i32,
    /// The verifying unit (调查单位).
    pub unit: String,
}

/// An open project.
pub struct Project {
    // Field order matters: the connection closes before the lock file handle (POSIX locks).
    pub(crate) conn: Connection,
    _lock: Option<File>,
    path: PathBuf,
    template: Template,
    meta: ProjectMeta,
    access: Access,
    user: String,
    /// Column order of template fields in `patches` (same order as the template).
    pub(crate) field_columns: Vec<String>,
    /// The imagery on screen, recorded with a verdict when it is set.
    imagery_context: Option<String>,
    /// Each reference layer's spatial index, read once per session (`reference_index.rs`).
    reference_trees: std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<reference_index::LayerTree>>>,
}

/// The user name written to the audit log: `TUBAN_USER`, else the login name.
pub fn current_user() -> String {
    for var in ["TUBAN_USER", "USER", "USERNAME", "LOGNAME"] {
        if let Ok(u) = std::env::var(var) {
            if !u.trim().is_empty() {
                return u.trim().to_string();
            }
        }
    }
    "unknown".into()
}

/// Now in the GeoPackage timestamp form, UTC with milliseconds.
pub fn now_utc() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "?".into())
}

impl Project {
    /// Creates a new project file (refuses to overwrite) and opens it for writing.
    pub fn create(path: &Path, template: &Template, meta: &ProjectMeta) -> Result<Project> {
        let p = path.display().to_string();
        if path.exists() {
            return Err(StoreError::Exists { path: p });
        }
        // A -wal or -shm left behind without its database (a deleted project) would be replayed
        // into the new file and corrupt it.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut orphan = path.as_os_str().to_owned();
            orphan.push(suffix);
            let _ = std::fs::remove_file(std::path::PathBuf::from(orphan));
        }
        // Build under a temporary name and rename, so a failure never leaves half a project.
        let tmp = path.with_extension("gpkg.creating");
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let conn =
                Connection::open(&tmp).map_err(|source| StoreError::Sqlite { path: p.clone(), cause: source })?;
            rtree::register_functions(&conn).map_err(|source| StoreError::Sqlite { path: p.clone(), cause: source })?;
            schema::create(&conn, template, meta, &current_user())
                .map_err(|source| StoreError::Sqlite { path: p.clone(), cause: source })?;
            conn.close().map_err(|(_, source)| StoreError::Sqlite { path: p.clone(), cause: source })?;
            std::fs::rename(&tmp, path).map_err(|source| StoreError::Io { path: p.clone(), cause: source })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            for ext in ["gpkg.creating-wal", "gpkg.creating-shm", "gpkg.creating-journal"] {
                let _ = std::fs::remove_file(path.with_extension(ext));
            }
        }
        result?;
        Project::open(path, Access::ReadWrite)
    }

    /// Opens an existing project; migrates an older schema (after a backup copy) when writing.
    pub fn open(path: &Path, access: Access) -> Result<Project> {
        let p = path.display().to_string();
        check_sqlite_header(path)?;
        let lock = match access {
            Access::ReadWrite => Some(take_lock(path)?),
            Access::ReadOnly => None,
        };
        let flags = match access {
            Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        };
        let sq = |source| StoreError::Sqlite { path: p.clone(), cause: source };
        let conn = if access == Access::ReadOnly && !writable_folder(path) && !has_wal(path) {
            // A read-only medium: SQLite cannot create the -shm file a WAL project needs, so the
            // file is opened as immutable (nothing can change it there anyway).
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI).map_err(sq)?
        } else {
            Connection::open_with_flags(path, flags).map_err(|e| {
                if writable_folder(path) {
                    sq(e)
                } else {
                    StoreError::ReadOnlyMedium { path: p.clone() }
                }
            })?
        };
        // PRAGMA rather than `busy_timeout()`: rusqlite 0.43 implements that with sqlite3_set_clientdata (SQLite ≥ 3.44; Debian 12 has 3.40).
        conn.pragma_update(None, "busy_timeout", 5000).map_err(sq)?;
        // The R-tree triggers call GeoPackage SQL functions SQLite does not have.
        rtree::register_functions(&conn).map_err(sq)?;
        let is_project: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='tuban_meta'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| classify_open_error(&p, e))?
            > 0;
        if !is_project {
            return Err(StoreError::NotAProject { path: p });
        }
        let version = schema::stored_version(&conn).map_err(|e| classify_open_error(&p, e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: p, version });
        }
        if access == Access::ReadWrite {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(sq)?;
            conn.pragma_update(None, "synchronous", "FULL").map_err(sq)?;
            if version < SCHEMA_VERSION {
                schema::migrate(&conn, path, version).map_err(sq)?;
            }
            conn.execute(
                "INSERT OR REPLACE INTO tuban_session(id, user, host, pid, since) VALUES (1, ?1, ?2, ?3, ?4)",
                rusqlite::params![current_user(), host_name(), std::process::id(), now_utc()],
            )
            .map_err(sq)?;
        } else if version < SCHEMA_VERSION {
            schema::read_only_view(&conn, version).map_err(sq)?;
        }
        let meta = schema::read_meta(&conn).map_err(|e| classify_open_error(&p, e))?;
        let toml: String = conn
            .query_row("SELECT toml FROM tuban_template ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .map_err(|e| classify_open_error(&p, e))?;
        let template = Template::from_toml(&toml, &format!("{p} (tuban_template)"))
            .map_err(|source| StoreError::Template { path: p.clone(), cause: source })?;
        let field_columns = template.fields().iter().map(|f| f.name.clone()).collect();
        Ok(Project {
            conn,
            _lock: lock,
            path: path.to_path_buf(),
            template,
            meta,
            access,
            user: current_user(),
            field_columns,
            imagery_context: None,
            reference_trees: Default::default(),
        })
    }

    /// The project file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The template used by this project.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// Project metadata.
    pub fn meta(&self) -> &ProjectMeta {
        &self.meta
    }

    /// Read-write or read-only.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The user name recorded in the audit log.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Sets the user name recorded in the audit log from now on (and shown to other processes
    /// as the holder of the project).
    pub fn set_user(&mut self, user: &str) {
        self.user = user.to_string();
        if self.access == Access::ReadWrite {
            // Best effort: only the message another process shows depends on it.
            let _ = self.conn.execute("UPDATE tuban_session SET user = ?1 WHERE id = 1", [user]);
        }
    }

    /// Describes the imagery on screen (source and date); stored with the verdict whenever the
    /// verdict changes, so a reviewer can later see what the decision was based on.
    pub fn set_imagery_context(&mut self, text: Option<String>) {
        self.imagery_context = text;
    }

    pub(crate) fn imagery_context(&self) -> Option<&str> {
        self.imagery_context.as_deref()
    }

    pub(crate) fn path_str(&self) -> String {
        self.path.display().to_string()
    }

    pub(crate) fn sq(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path_str(), cause: source }
    }

    pub(crate) fn require_write(&self) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(StoreError::ReadOnly { path: self.path_str() }),
        }
    }

    /// Replaces the project's template with an edited one: new fields get columns, old columns keep
    /// their data; statuses and computed fields are recomputed. Returns the names of fields that
    /// the new template drops (their data stays in the file).
    pub fn replace_template(&mut self, template: Template) -> Result<Vec<String>> {
        self.require_unsealed()?;
        let sq = |source| StoreError::Sqlite { path: self.path.display().to_string(), cause: source };
        let tx = self.conn.transaction().map_err(sq)?;
        let existing: Vec<String> = {
            let mut st = tx.prepare("SELECT name FROM pragma_table_info('patches')").map_err(sq)?;
            let names =
                st.query_map([], |r| r.get::<_, String>(0)).map_err(sq)?.collect::<Result<Vec<_>, _>>().map_err(sq)?;
            names
        };
        for f in template.fields() {
            if !existing.iter().any(|c| c.eq_ignore_ascii_case(&f.name)) {
                tx.execute(
                    &format!("ALTER TABLE patches ADD COLUMN \"{}\" {}", f.name, schema::column_type(&f.kind)),
                    [],
                )
                .map_err(sq)?;
            }
        }
        let dropped = self
            .template
            .fields()
            .iter()
            .filter(|old| template.field(&old.name).is_none())
            .map(|f| f.name.clone())
            .collect();
        schema::write_data_columns(&tx, &template).map_err(sq)?;
        style::write_default(&tx, &template).map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_template(toml, installed_at, installed_by) VALUES (?1, ?2, ?3)",
            rusqlite::params![template.to_toml(), now_utc(), self.user],
        )
        .map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, NULL, ?3, ?4, 'template')",
            rusqlite::params![now_utc(), self.user, format!("{} v{}", self.template.spec.id, self.template.spec.version), format!("{} v{}", template.spec.id, template.spec.version)],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        self.field_columns = template.fields().iter().map(|f| f.name.clone()).collect();
        self.template = template;
        self.recompute_all()?;
        Ok(dropped)
    }
}

fn check_sqlite_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let p = path.display().to_string();
    let mut f = File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound { path: p.clone() }
        } else {
            StoreError::Io { path: p.clone(), cause: source }
        }
    })?;
    let mut header = [0u8; 16];
    match f.read_exact(&mut header) {
        Ok(()) if &header == b"SQLite format 3\0" => Ok(()),
        _ => Err(StoreError::NotSqlite { path: p }),
    }
}

/// What to do about an SQLite error, when there is something to say.
fn advice_sqlite(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => "。磁盘已满：请腾出空间后重试，已保存的内容没有丢失 / the disk is full: free some space and try again; nothing saved was lost",
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => "。文件已损坏：请用备份（.bak-v*）或上次交付的副本 / the file is damaged: use a backup copy",
        Some(rusqlite::ErrorCode::ReadOnly) => "。文件只读：请复制到可写磁盘 / the file is read-only: copy it to a writable disk",
        Some(rusqlite::ErrorCode::SystemIoFailure) => "。读写出错：请检查磁盘或U盘是否已拔出 / input/output error: check the disk or USB drive",
        _ => "",
    }
}

fn classify_open_error(path: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotSqlite { path: path.to_string() },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_string(), detail: e.to_string() }
        }
        _ => StoreError::Sqlite { path: path.to_string(), cause: e },
    }
}

/// True when files can be created beside `path` (SQLite's -wal and -shm files).
fn writable_folder(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// True when a non-empty write-ahead log lies beside the project (committed data not yet
/// copied into the file).
fn has_wal(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

/// A `file:` URI opening `path` as immutable (percent-encoded: spaces, Chinese names, `?`, `#`).
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for &b in abs.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

fn take_lock(path: &Path) -> Result<File> {
    let p = path.display().to_string();
    if !writable_folder(path) {
        return Err(StoreError::ReadOnlyMedium { path: p });
    }
    let file = File::options().read(true).write(true).open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
            StoreError::ReadOnlyMedium { path: p.clone() }
        }
        _ => StoreError::Io { path: p.clone(), cause: source },
    })?;
    // A lock that goes within half a second is not another holder: a process this one is just
    // starting holds a copy of every open file between its fork and its exec (a closed project
    // stays locked for that instant).
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(path).unwrap_or_else(|| "另一个程序 / another program".into());
                return Err(StoreError::Locked { path: p, holder });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(StoreError::Io { path: p, cause: source }),
        }
    }
}

/// How long an open waits for a lock that may be on its way out before naming the holder.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Who holds the project for writing, as recorded when they opened it.
fn read_holder(path: &Path) -> Option<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row("SELECT user, host, pid, since FROM tuban_session WHERE id = 1", [], |r| {
        Ok(format!(
            "{}@{} (pid {}, since {})",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?
        ))
    })
    .optional()
    .ok()
    .flatten()
}
