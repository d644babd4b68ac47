//! The network: no socket without an online source, and no request reaches the server in
//! offline mode (counted by the server, not by tuban).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn sockets_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count()
        })
        .unwrap_or(0)
}

/// With no online source, working on a project opens no network socket.
#[test]
fn no_network_without_an_online_source() {
    let _turn = sockets_turn();
    let before = sockets_of_this_process();
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let imagery = common::sample("imagery/2025-08_后时相_GF2.tif");
    p.add_imagery("after", &tuban_core::imagery::SourceSpec::detect(&imagery.to_string_lossy()), None, "").unwrap();
    let sources = p.imagery().unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    let geom = p.patch_geometry(fid).unwrap().unwrap();
    let overlay =
        tuban_core::render::Overlay { geom, rgba: [255, 255, 0, 255], label: String::new(), line: Default::default() };
    tuban_core::render::render(Some(&sources[0].spec), &[overlay], &Default::default()).unwrap();
    let mut service = tuban_core::imagery::TileService::new(vec![sources[0].spec.clone()], 2, || {});
    service.request(tuban_core::imagery::TileKey { source: 0, z: 16, x: 52_968, y: 24_300 });
    service.wait_all();
    assert_eq!(sockets_of_this_process(), before, "a socket was opened");
}

/// Tests that count this process's sockets and the test that opens some take turns.
static SOCKETS: Mutex<()> = Mutex::new(());

fn sockets_turn() -> std::sync::MutexGuard<'static, ()> {
    SOCKETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A tile server on 127.0.0.1 that answers every request with one PNG and counts the requests
/// it received; dropping it closes its socket and ends its thread.
struct TileServer {
    port: u16,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TileServer {
    fn start() -> TileServer {
        let img = image::RgbaImage::from_pixel(256, 256, image::Rgba([20, 140, 40, 255]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let png = png.into_inner();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (served, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, stopped) = (Arc::clone(&served), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                count.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    png.len()
                );
                let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(&png));
            }
        });
        TileServer { port, served, stop, thread: Some(thread) }
    }

    /// Requests received so far.
    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The offline switch, counted by the server: `tuban render` of a patch whose imagery is an
/// online source sends the server nothing with `TUBAN_OFFLINE=1`, and does reach it without (so
/// the zero is not a server nobody could reach); offline again, the cached tiles serve and the
/// server's count does not move.
#[test]
fn offline_mode_sends_the_tile_server_nothing() {
    let _turn = sockets_turn();
    let server = TileServer::start();
    let port = server.port;
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let file = path.to_str().unwrap();
    let url = format!("http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png");
    let o = tuban(&["imagery", "add", file, &url, "--name", "在线", "--date", "2025-08-01"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let registered = server.served();
    let cache = dir.path().join("瓦片缓存");
    let cache = cache.to_str().unwrap();
    let render = |out: &str, offline: &str| {
        let out = dir.path().join(out);
        let args = ["render", file, "150999SJBG2025000004", "--source", "在线", "--out", out.to_str().unwrap()];
        tuban(&args, &[("TUBAN_OFFLINE", offline), ("TUBAN_TILE_CACHE", cache)])
    };
    let off = render("离线.png", "1");
    assert_eq!(server.served(), registered, "offline: {}", String::from_utf8_lossy(&off.stderr));
    let on = render("在线.png", "0");
    assert!(on.status.success(), "{}", String::from_utf8_lossy(&on.stderr));
    let fetched = server.served() - registered;
    assert!(fetched > 0, "online: the server received nothing");
    let again = render("离线2.png", "1");
    assert!(again.status.success(), "offline from the cache: {}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(server.served(), registered + fetched, "offline after caching");
    println!(
        "offline switch: server received {registered} at registration, 0 offline, {fetched} online, 0 offline again"
    );
}

/// Runs the binary with extra environment variables and waits for it.
fn tuban(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tuban"));
    c.args(args).env_remove("TUBAN_OFFLINE").env_remove("TUBAN_FAILPOINT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}
