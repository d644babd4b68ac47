//! Online XYZ / WMTS tiles (Tianditu and others) with an on-disk cache and an offline switch.
//!
//! Nothing is online unless the user adds an online source. After [`set_offline`]`(true)` no
//! request leaves the machine: tiles come from the cache or not at all. Requests carry only the
//! tile address and the user's key, never project data. ureq (blocking, small, maintained) is
//! used rather than walkers' reqwest/tokio stack: rendering already runs on our worker threads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tile::{decode_tile, overzoom, TileSource};
use super::ImageryError;

/// An online tile template: `{z} {x} {y}` (or `{TileMatrix} {TileCol} {TileRow}`), `{-y}` for
/// TMS rows, `{s}` or `t{0-7}` for subdomains, `{key}` / `{tk}` for the user's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineSpec {
    /// The URL template.
    pub url: String,
    /// Key substituted for `{key}` / `{tk}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A second template drawn on top (Tianditu `cia_w` annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<String>,
    /// Highest zoom the server has; deeper tiles are cut from it.
    #[serde(default = "default_max_zoom")]
    pub max_zoom: u8,
}

/// The zoom most tile servers go to (18), when a spec does not say.
pub(super) fn default_max_zoom() -> u8 {
    18
}

static OFFLINE: AtomicBool = AtomicBool::new(false);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Switches offline mode on or off for the whole process.
pub fn set_offline(offline: bool) {
    OFFLINE.store(offline, Ordering::SeqCst);
}

/// True in offline mode (also when `TUBAN_OFFLINE=1`).
pub fn is_offline() -> bool {
    OFFLINE.load(Ordering::SeqCst) || std::env::var("TUBAN_OFFLINE").is_ok_and(|v| v == "1")
}

/// Number of HTTP requests sent by this process (for tests and the privacy check).
pub fn requests_sent() -> u64 {
    REQUESTS.load(Ordering::SeqCst)
}

/// The tile cache folder: `TUBAN_TILE_CACHE`, else the user's cache folder.
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TUBAN_TILE_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|_| std::env::temp_dir());
    base.join("tuban").join("tiles")
}

/// Cache size limit in bytes: `TUBAN_TILE_CACHE_MB` (default 1024 MB).
fn cache_limit_bytes() -> u64 {
    std::env::var("TUBAN_TILE_CACHE_MB").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(1024) * 1024 * 1024
}

/// Fills a template for tile `z/x/y` (`{bbox}`: the tile's EPSG:3857 extent, for WMS and
/// ArcGIS export; see `services`).
pub fn tile_url(template: &str, key: Option<&str>, z: u8, x: u32, y: u32) -> String {
    let tms_y = (1u32 << z) - 1 - y;
    let mut url = template.to_string();
    for (names, value) in [
        (&["{z}", "{TileMatrix}", "{TILEMATRIX}", "{tilematrix}"][..], z.to_string()),
        (&["{x}", "{TileCol}", "{TILECOL}", "{tilecol}"][..], x.to_string()),
        (&["{-y}"][..], tms_y.to_string()),
        (&["{y}", "{TileRow}", "{TILEROW}", "{tilerow}"][..], y.to_string()),
        (&["{key}", "{tk}", "{KEY}"][..], key.unwrap_or("").to_string()),
        (&["{bbox}"][..], {
            let [min_x, min_y, max_x, max_y] = super::tile_extent_merc(z, x, y);
            format!("{min_x:.6},{min_y:.6},{max_x:.6},{max_y:.6}")
        }),
    ] {
        for n in names {
            url = url.replace(n, &value);
        }
    }
    // Subdomains: {s} → a,b,c; {0-7} / {a-c} → one of the range.
    let pick = (x as usize + y as usize) % 1024;
    if url.contains("{s}") {
        let subs = ["a", "b", "c"];
        url = url.replace("{s}", subs[pick % subs.len()]);
    }
    if let (Some(start), Some(end)) = (url.find('{'), url.find('}')) {
        let inner = &url[start + 1..end];
        if let Some((a, b)) = inner.split_once('-') {
            if let (Some(a), Some(b)) = (a.chars().next(), b.chars().next()) {
                let n = (b as u32).saturating_sub(a as u32) + 1;
                if let Some(c) = char::from_u32(a as u32 + (pick as u32 % n.max(1))) {
                    url.replace_range(start..=end, &c.to_string());
                }
            }
        }
    }
    url
}

/// An online source: HTTP with a disk cache.
pub struct OnlineSource {
    spec: OnlineSpec,
    agent: ureq::Agent,
    cache_root: PathBuf,
}

fn template_id(template: &str) -> String {
    // Stable across runs and machines; the key is not part of the template id.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl OnlineSource {
    /// A source for a template (no request is made here).
    pub fn new(spec: OnlineSpec) -> OnlineSource {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(15)))
            .user_agent(format!("tuban/{}", env!("CARGO_PKG_VERSION")))
            .http_status_as_error(false)
            .build();
        OnlineSource { spec, agent: ureq::Agent::new_with_config(config), cache_root: cache_dir() }
    }

    /// The same source with its tile cache in `dir` (tests, portable installs).
    pub fn with_cache(mut self, dir: PathBuf) -> OnlineSource {
        self.cache_root = dir;
        self
    }

    fn cached_or_fetched(&self, template: &str, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        let dir = self.cache_root.join(template_id(template)).join(z.to_string()).join(x.to_string());
        let file = dir.join(format!("{y}.tile"));
        if let Ok(bytes) = std::fs::read(&file) {
            return if bytes.is_empty() {
                Ok(None)
            } else {
                decode_tile(&bytes, &file.display().to_string()).map(Some)
            };
        }
        if is_offline() {
            return Ok(None);
        }
        let url = tile_url(template, self.spec.key.as_deref(), z, x, y);
        let shown = template.to_string();
        REQUESTS.fetch_add(1, Ordering::SeqCst);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| ImageryError::Read { path: shown.clone(), detail: e.to_string() })?;
        let status = resp.status().as_u16();
        if status == 404 || status == 204 {
            let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, b""));
            return Ok(None);
        }
        if status != 200 {
            return Err(ImageryError::Read { path: shown, detail: format!("HTTP {status}") });
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(8 << 20)
            .read_to_vec()
            .map_err(|e| ImageryError::Read { path: shown.clone(), detail: e.to_string() })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
            // A WMS ServiceException or an ArcGIS error page, sent with status 200.
            let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(ImageryError::Read {
                path: shown,
                detail: format!(
                    "服务返回了错误说明而不是图片 / the service answered with a message, not an image: {text}"
                ),
            });
        }
        let rgba = decode_tile(&bytes, &shown)?;
        if std::fs::create_dir_all(&dir).is_ok() {
            // A tile that cannot be cached is fetched again next time.
            let _ = crate::atomic::write_file(&file, &bytes, crate::atomic::Overwrite::Replace);
            trim_cache(&self.cache_root);
        }
        Ok(Some(rgba))
    }
}

/// Keeps the cache under its size limit, removing the oldest tiles first (checked every 200
/// tiles written).
fn trim_cache(root: &std::path::Path) {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    if WRITES.fetch_add(1, Ordering::Relaxed).is_multiple_of(200) {
        trim_cache_to(root, cache_limit_bytes());
    }
}

/// Removes the least recently written files under `root` until at most `limit_bytes` remain;
/// returns how many files were removed.
pub fn trim_cache_to(root: &std::path::Path, limit_bytes: u64) -> usize {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) => files.push((m.modified().ok(), m.len(), p)),
                Err(_) => {}
            }
        }
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    if total <= limit_bytes {
        return 0;
    }
    files.sort_by_key(|f| f.0);
    let mut excess = total - limit_bytes;
    let mut removed = 0;
    for (_, len, p) in files {
        if excess == 0 {
            break;
        }
        if std::fs::remove_file(&p).is_ok() {
            excess = excess.saturating_sub(len);
            removed += 1;
        }
    }
    removed
}

fn composite(base: &mut [u8], over: &[u8]) {
    for (b, o) in base.chunks_exact_mut(4).zip(over.chunks_exact(4)) {
        let a = u32::from(o[3]);
        for c in 0..3 {
            b[c] = ((u32::from(o[c]) * a + u32::from(b[c]) * (255 - a)) / 255) as u8;
        }
        b[3] = b[3].max(o[3]);
    }
}

impl TileSource for OnlineSource {
    fn render(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        let (fz, fx, fy) = if z > self.spec.max_zoom {
            let d = 1u32 << (z - self.spec.max_zoom);
            (self.spec.max_zoom, x / d, y / d)
        } else {
            (z, x, y)
        };
        let url = self.spec.url.clone();
        let mut base = self.cached_or_fetched(&url, fz, fx, fy)?;
        if let Some(overlay) = self.spec.overlay.clone() {
            if let Some(o) = self.cached_or_fetched(&overlay, fz, fx, fy)? {
                match &mut base {
                    Some(b) => composite(b, &o),
                    None => base = Some(o),
                }
            }
        }
        Ok(match base {
            Some(b) if fz != z => overzoom(&b, fz, z, x, y),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tianditu_template() {
        let t = "https://t{0-7}.tianditu.gov.cn/img_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=img&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}";
        let u = tile_url(t, Some("KEY123"), 12, 3300, 1500);
        assert!(u.starts_with("https://t") && u.contains("TILEMATRIX=12&TILEROW=1500&TILECOL=3300&tk=KEY123"), "{u}");
        assert!(!u.contains('{'), "{u}");
        let u = tile_url("http://127.0.0.1:1/{z}/{x}/{-y}.png", None, 1, 0, 0);
        assert_eq!(u, "http://127.0.0.1:1/1/0/1.png");
    }
}
