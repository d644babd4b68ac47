//! A pool of worker threads rendering map tiles from raster sources; newest requests first.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::source::{self, SourceSpec, TileSource};
use super::ImageryError;

/// One tile of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// Index of the source in the service's list.
    pub source: usize,
    /// Zoom level.
    pub z: u8,
    /// Column.
    pub x: u32,
    /// Row (XYZ, north first).
    pub y: u32,
}

/// RGBA pixels of a rendered tile (`None`: nothing there), or why it failed.
pub type TileResult = Result<Option<Vec<u8>>, ImageryError>;

/// Requests beyond this are dropped, oldest first: they belong to views long gone.
const MAX_QUEUE: usize = 1024;

struct Queue {
    items: Vec<TileKey>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    sources: Vec<SourceSpec>,
    wake: Box<dyn Fn() + Send + Sync>,
}

/// Renders tiles on worker threads; the caller polls finished tiles.
pub struct TileService {
    shared: Arc<Shared>,
    results: Receiver<(TileKey, TileResult)>,
    pending: HashSet<TileKey>,
    workers: Vec<JoinHandle<()>>,
}

impl TileService {
    /// Starts `threads` workers over `sources`; `wake` is called after each finished tile
    /// (the app asks for a repaint there).
    pub fn new(sources: Vec<SourceSpec>, threads: usize, wake: impl Fn() + Send + Sync + 'static) -> TileService {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { items: Vec::new(), stop: false }),
            ready: Condvar::new(),
            sources,
            wake: Box::new(wake),
        });
        let (tx, results) = channel();
        let workers = (0..threads.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                let tx = tx.clone();
                std::thread::Builder::new().name(format!("tiles-{i}")).spawn(move || worker(&shared, &tx)).ok()
            })
            .collect();
        TileService { shared, results, pending: HashSet::new(), workers }
    }

    /// The sources, in index order.
    pub fn sources(&self) -> &[SourceSpec] {
        &self.shared.sources
    }

    /// Asks for a tile unless it is already on its way; returns true when newly queued.
    pub fn request(&mut self, key: TileKey) -> bool {
        if key.source >= self.shared.sources.len() || !self.pending.insert(key) {
            return false;
        }
        if let Ok(mut q) = self.shared.queue.lock() {
            q.items.push(key);
            if q.items.len() > MAX_QUEUE {
                let excess = q.items.len() - MAX_QUEUE;
                let dropped: Vec<TileKey> = q.items.drain(..excess).collect();
                for k in dropped {
                    self.pending.remove(&k);
                }
            }
        }
        self.shared.ready.notify_one();
        true
    }

    /// True while the tile is queued or rendering.
    pub fn is_pending(&self, key: &TileKey) -> bool {
        self.pending.contains(key)
    }

    /// Number of tiles queued or rendering.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Finished tiles since the last poll.
    pub fn poll(&mut self) -> Vec<(TileKey, TileResult)> {
        let out: Vec<_> = self.results.try_iter().collect();
        for (k, _) in &out {
            self.pending.remove(k);
        }
        out
    }

    /// Blocks until every requested tile is finished, and returns them (for tests and benchmarks).
    pub fn wait_all(&mut self) -> Vec<(TileKey, TileResult)> {
        let mut out = Vec::new();
        while !self.pending.is_empty() {
            match self.results.recv() {
                Ok((k, r)) => {
                    self.pending.remove(&k);
                    out.push((k, r));
                }
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for TileService {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.stop = true;
            q.items.clear();
        }
        self.shared.ready.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(shared: &Shared, tx: &Sender<(TileKey, TileResult)>) {
    // Each worker opens its own datasets (a GDAL dataset stays on one thread).
    let mut open: HashMap<usize, Result<Box<dyn TileSource>, ImageryError>> = HashMap::new();
    loop {
        let key = {
            let Ok(mut q) = shared.queue.lock() else { return };
            loop {
                if q.stop {
                    return;
                }
                if let Some(k) = q.items.pop() {
                    break k;
                }
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        let source = open.entry(key.source).or_insert_with(|| source::open(&shared.sources[key.source]));
        let result = match source {
            Ok(s) => s.render(key.z, key.x, key.y),
            Err(e) => Err(e.clone()),
        };
        if tx.send((key, result)).is_err() {
            return;
        }
        (shared.wake)();
    }
}
