//! Imagery sources on real files: rasters in other CRSs with nodata, 4-band RGBN, 16-bit and
//! single-band data, mosaics, a damaged GeoTIFF, MBTiles (TMS rows, over-zoom, damaged), tile
//! folders, and online templates against a local HTTP server (cache, offline switch, overlay).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gdal::raster::Buffer;
use gdal::{Dataset, DriverManager};
use tuban_core::imagery::online::{self, OnlineSource};
use tuban_core::imagery::source::{self, OnlineSpec, TileSource};
use tuban_core::imagery::{lonlat_to_merc, RasterSource, RasterStyle, SourceSpec, TileKey, TileService};

/// Tile (z, x, y) containing a Web-Mercator point.
fn tile_at(z: u8, mx: f64, my: f64) -> (u32, u32) {
    let half = 20_037_508.342_789_244;
    let n = f64::from(1u32 << z);
    (((mx + half) / (2.0 * half) * n) as u32, ((half - my) / (2.0 * half) * n) as u32)
}

fn stats(rgba: &[u8]) -> (usize, usize, [f64; 3]) {
    let mut transparent = 0;
    let mut opaque = 0;
    let mut sum = [0.0; 3];
    for p in rgba.chunks_exact(4) {
        if p[3] == 0 {
            transparent += 1;
        } else {
            opaque += 1;
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
        }
    }
    let n = opaque.max(1) as f64;
    (transparent, opaque, [sum[0] / n, sum[1] / n, sum[2] / n])
}

fn centre_tile(src: &RasterSource, z: u8) -> (u32, u32) {
    let e = src.extent_merc();
    tile_at(z, (e[0] + e[2]) / 2.0, (e[1] + e[3]) / 2.0)
}

#[test]
fn utm_raster_with_nodata_is_transparent_outside_the_scene() {
    let src = RasterSource::open(&common::fixture("imagery/RGB.byte.tif")).unwrap();
    // At zoom 7 the centre tile holds both the rotated scene and its nodata collar.
    let (x, y) = centre_tile(&src, 7);
    let rgba = src.render_tile(7, x, y).unwrap().unwrap();
    let (t, o, _) = stats(&rgba);
    assert!(t > 1000 && o > 1000, "transparent {t}, opaque {o}");
    // Far away: nothing.
    assert!(src.render_tile(9, 0, 0).unwrap().is_none());
}

#[test]
fn web_mercator_cog_renders_at_low_and_high_zoom() {
    let src = RasterSource::open(&common::fixture("imagery/cogeo.tif")).unwrap();
    // 611 m across: a quarter of a zoom-15 tile (from overviews), all of a zoom-19 tile.
    for (z, min_opaque) in [(15u8, 8_000usize), (19, 60_000)] {
        let (x, y) = centre_tile(&src, z);
        let rgba = src.render_tile(z, x, y).unwrap().unwrap();
        assert!(stats(&rgba).1 > min_opaque, "zoom {z}: {}", stats(&rgba).1);
    }
}

#[test]
fn rgbn_bands_can_be_chosen() {
    let path = common::fixture("imagery/m_3607824_se_17_1_20160620_sub.tif");
    let natural = RasterSource::open(&path).unwrap();
    let false_colour =
        RasterSource::open_styled(std::slice::from_ref(&path), &RasterStyle { bands: Some([4, 1, 2]), stretch: None })
            .unwrap();
    let (x, y) = centre_tile(&natural, 16);
    let a = stats(&natural.render_tile(16, x, y).unwrap().unwrap()).2;
    let b = stats(&false_colour.render_tile(16, x, y).unwrap().unwrap()).2;
    // Near-infrared on red: vegetation turns red.
    assert!(b[0] > a[0] + 20.0, "natural {a:?}, false colour {b:?}");
    let e = RasterSource::open_styled(&[path], &RasterStyle { bands: Some([5, 1, 2]), stretch: None }).err().unwrap();
    assert!(e.to_string().contains('5'), "{e}");
}

/// A UInt16 (values ×40) and a single-band Float32 copy of the NAIP file.
fn derived_rasters(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = Dataset::open(common::fixture("imagery/m_3607824_se_17_1_20160620_sub.tif")).unwrap();
    let (w, h) = src.raster_size();
    let gtiff = DriverManager::get_driver_by_name("GTiff").unwrap();
    let u16_path = dir.join("naip_u16.tif");
    let mut ds = gtiff.create_with_band_type::<u16, _>(&u16_path, w, h, 3).unwrap();
    ds.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
    ds.set_spatial_ref(&src.spatial_ref().unwrap()).unwrap();
    for b in 1..=3 {
        let buf: Buffer<u8> = src.rasterband(b).unwrap().read_as((0, 0), (w, h), (w, h), None).unwrap();
        let data: Vec<u16> = buf.data().iter().map(|v| u16::from(*v) * 40).collect();
        ds.rasterband(b).unwrap().write((0, 0), (w, h), &mut Buffer::new((w, h), data)).unwrap();
    }
    drop(ds);
    let f32_path = dir.join("naip_band4_f32.tif");
    let mut ds = gtiff.create_with_band_type::<f32, _>(&f32_path, w, h, 1).unwrap();
    ds.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
    ds.set_spatial_ref(&src.spatial_ref().unwrap()).unwrap();
    let buf: Buffer<u8> = src.rasterband(4).unwrap().read_as((0, 0), (w, h), (w, h), None).unwrap();
    let data: Vec<f32> = buf.data().iter().map(|v| f32::from(*v) / 255.0).collect();
    ds.rasterband(1).unwrap().write((0, 0), (w, h), &mut Buffer::new((w, h), data)).unwrap();
    (u16_path, f32_path)
}

#[test]
fn sixteen_bit_is_stretched_and_single_band_gets_a_ramp() {
    let dir = tempfile::tempdir().unwrap();
    let (u16_path, f32_path) = derived_rasters(dir.path());
    let src = RasterSource::open(&u16_path).unwrap();
    let (x, y) = centre_tile(&src, 19);
    let (_, opaque, mean) = stats(&src.render_tile(19, x, y).unwrap().unwrap());
    assert!(opaque > 60_000);
    assert!(mean.iter().all(|m| (20.0..235.0).contains(m)), "stretched into the visible range: {mean:?}");
    let src = RasterSource::open(&f32_path).unwrap();
    let rgba = src.render_tile(19, x, y).unwrap().unwrap();
    let coloured = rgba.chunks_exact(4).filter(|p| p[3] > 0 && (p[0] != p[1] || p[1] != p[2])).count();
    assert!(coloured > 30_000, "{coloured}");
}

#[test]
fn a_folder_of_rasters_is_one_mosaic() {
    let dir = tempfile::tempdir().unwrap();
    let src = Dataset::open(common::fixture("imagery/m_3607824_se_17_1_20160620_sub.tif")).unwrap();
    let (w, h) = src.raster_size();
    let gt = src.geo_transform().unwrap();
    let gtiff = DriverManager::get_driver_by_name("GTiff").unwrap();
    for (i, x0) in [0usize, w / 2].into_iter().enumerate() {
        let ww = if i == 0 { w / 2 } else { w - w / 2 };
        let mut ds = gtiff.create_with_band_type::<u8, _>(dir.path().join(format!("part{i}.tif")), ww, h, 4).unwrap();
        ds.set_geo_transform(&[gt[0] + x0 as f64 * gt[1], gt[1], 0.0, gt[3], 0.0, gt[5]]).unwrap();
        ds.set_spatial_ref(&src.spatial_ref().unwrap()).unwrap();
        for b in 1..=4 {
            let mut buf: Buffer<u8> =
                src.rasterband(b).unwrap().read_as((x0 as isize, 0), (ww, h), (ww, h), None).unwrap();
            ds.rasterband(b).unwrap().write((0, 0), (ww, h), &mut buf).unwrap();
        }
    }
    let spec = SourceSpec::detect(&dir.path().to_string_lossy());
    let SourceSpec::Mosaic { paths, .. } = &spec else { panic!("{spec:?}") };
    assert_eq!(paths.len(), 2);
    let mut mosaic = source::open(&spec).unwrap();
    let whole = RasterSource::open(&common::fixture("imagery/m_3607824_se_17_1_20160620_sub.tif")).unwrap();
    let (x, y) = centre_tile(&whole, 15);
    let a = stats(&mosaic.render(15, x, y).unwrap().unwrap());
    let b = stats(&whole.render_tile(15, x, y).unwrap().unwrap());
    assert!((a.1 as i64 - b.1 as i64).abs() < 500, "mosaic covers what the whole file covers: {} vs {}", a.1, b.1);
}

#[test]
fn a_damaged_geotiff_fails_on_its_tiles_and_the_rest_keeps_working() {
    let corrupt = common::fixture("tricky/raster/corrupt.tif");
    let good = common::fixture("imagery/cogeo.tif");
    let mut service = TileService::new(
        vec![SourceSpec::detect(&corrupt.to_string_lossy()), SourceSpec::detect(&good.to_string_lossy())],
        2,
        || {},
    );
    let bad = RasterSource::open(&corrupt);
    let good_src = RasterSource::open(&good).unwrap();
    let (gx, gy) = centre_tile(&good_src, 14);
    let mut bad_keys = Vec::new();
    if let Ok(b) = &bad {
        // Every tile of the damaged file at a zoom where it spans several tiles.
        let e = b.extent_merc();
        // Full resolution (zoom 18-19) reads the damaged lower half; overviews are intact.
        for z in [18u8, 19] {
            let (x0, y0) = tile_at(z, e[0], e[3]);
            let (x1, y1) = tile_at(z, e[2], e[1]);
            for x in x0..=x1.min(x0 + 8) {
                for y in y0..=y1.min(y0 + 8) {
                    bad_keys.push(TileKey { source: 0, z, x, y });
                }
            }
        }
    }
    for k in &bad_keys {
        service.request(*k);
    }
    service.request(TileKey { source: 1, z: 14, x: gx, y: gy });
    let results = service.wait_all();
    let errors: Vec<String> = results
        .iter()
        .filter(|(k, _)| k.source == 0)
        .filter_map(|(_, r)| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(bad.is_err() || !errors.is_empty(), "the damaged file must report an error somewhere");
    for e in &errors {
        assert!(e.contains("corrupt.tif"), "{e}");
    }
    let good_result = results.iter().find(|(k, _)| k.source == 1).unwrap();
    assert!(matches!(&good_result.1, Ok(Some(_))), "the good source still renders");
}

#[test]
fn mbtiles_rows_are_flipped_and_deep_zooms_come_from_the_parent() {
    let one = common::fixture("tiles/one_tile.mbtiles");
    let mut src = source::open(&SourceSpec::detect(&one.to_string_lossy())).unwrap();
    // The file holds TMS row 1 at zoom 1, which is XYZ row 0.
    assert!(src.render(1, 0, 0).unwrap().is_some());
    assert!(src.render(1, 0, 1).unwrap().is_none());
    let geo = common::fixture("tiles/geography-class-png.mbtiles");
    let mut src = source::open(&SourceSpec::detect(&geo.to_string_lossy())).unwrap();
    let z0 = src.render(0, 0, 0).unwrap().unwrap();
    assert_eq!(z0.len(), 256 * 256 * 4);
    // Zoom 4 is deeper than the file (max 1): cut from the zoom-1 parent, not empty.
    let z4 = src.render(4, 3, 5).unwrap().unwrap();
    assert!(stats(&z4).1 > 60_000);
    // A damaged file is refused when opened, naming it.
    let e =
        source::open(&SourceSpec::detect(&common::fixture("tiles/corrupt.mbtiles").to_string_lossy())).err().unwrap();
    assert!(e.to_string().contains("corrupt.mbtiles"), "{e}");
}

#[test]
fn a_tile_folder_serves_the_same_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(common::fixture("tiles/geography-class-png.mbtiles")).unwrap();
    let mut st = conn.prepare("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").unwrap();
    let rows: Vec<(u8, u32, u32, Vec<u8>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect();
    for (z, x, y, data) in rows {
        let d = dir.path().join(z.to_string()).join(x.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{y}.png")), data).unwrap();
    }
    std::fs::write(dir.path().join("tilemapresource.xml"), "<TileMap/>").unwrap();
    let spec = SourceSpec::detect(&dir.path().to_string_lossy());
    assert!(matches!(spec, SourceSpec::TileDir { tms: true, .. }), "{spec:?}");
    let mut folder = source::open(&spec).unwrap();
    let mut mb =
        source::open(&SourceSpec::detect(&common::fixture("tiles/geography-class-png.mbtiles").to_string_lossy()))
            .unwrap();
    assert_eq!(folder.render(1, 1, 0).unwrap(), mb.render(1, 1, 0).unwrap());
    assert_eq!(folder.render(3, 5, 2).unwrap(), mb.render(3, 5, 2).unwrap());
}

/// A server on 127.0.0.1 that records each request's path and answers with `respond(path)`
/// (a whole HTTP response).
fn local_server(respond: impl Fn(&str) -> Vec<u8> + Send + 'static) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let resp = respond(&path);
            log.lock().unwrap().push(path);
            let _ = s.write_all(&resp);
        }
    });
    (port, seen)
}

/// An HTTP 200 response carrying `body`.
fn ok_response(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A tiny tile server: PNG for every request, 404 for row 9; counts requests.
fn serve(count: Arc<AtomicUsize>, png: Vec<u8>) -> u16 {
    local_server(move |path| {
        count.fetch_add(1, Ordering::SeqCst);
        if path.contains("/9.png") || path.contains("TILEROW=9&") {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        } else {
            ok_response("image/png", &png)
        }
    })
    .0
}

fn png(rgba: [u8; 4]) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(256, 256, image::Rgba(rgba));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The offline switch is one per process: tests that flip it take turns.
static OFFLINE_SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn online_tiles_are_cached_and_offline_sends_nothing() {
    let _turn = OFFLINE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let hits = Arc::new(AtomicUsize::new(0));
    let port = serve(Arc::clone(&hits), png([10, 120, 30, 255]));
    let overlay_hits = Arc::new(AtomicUsize::new(0));
    let overlay_port = serve(Arc::clone(&overlay_hits), png([255, 255, 255, 128]));
    let cache = tempfile::tempdir().unwrap();
    // A WMTS-style template with subdomains and a key, as Tianditu's.
    let spec = OnlineSpec {
        url: format!("http://127.0.0.1:{port}/t{{0-7}}/img_w/wmts?SERVICE=WMTS&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={{key}}"),
        key: Some("test-key".into()),
        overlay: Some(format!("http://127.0.0.1:{overlay_port}/cia/{{z}}/{{x}}/{{y}}.png")),
        max_zoom: 18,
    };
    let mut src = OnlineSource::new(spec.clone()).with_cache(cache.path().to_path_buf());
    let t = src.render(12, 3300, 1500).unwrap().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(overlay_hits.load(Ordering::SeqCst), 1);
    // The half-transparent white annotation is composited over the green imagery.
    assert!(t[0] > 100 && t[1] > 150, "{:?}", &t[..4]);
    // Same tile again: from the disk cache, no request.
    let again = src.render(12, 3300, 1500).unwrap().unwrap();
    assert_eq!(again, t);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A 404 is "nothing here", remembered too: asking again sends nothing (the server counts).
    assert!(src.render(12, 3300, 9).unwrap().is_none());
    let after_404 = hits.load(Ordering::SeqCst);
    assert_eq!(after_404, 2, "the 404 was asked once");
    assert!(src.render(12, 3300, 9).unwrap().is_none());
    assert_eq!(hits.load(Ordering::SeqCst), after_404, "a remembered 404 is not asked again");
    // Offline: a new tile is not fetched, and no request reaches either server.
    let (before, overlay_before) = (hits.load(Ordering::SeqCst), overlay_hits.load(Ordering::SeqCst));
    online::set_offline(true);
    let off = src.render(12, 3301, 1500).unwrap();
    online::set_offline(false);
    assert!(off.is_none());
    assert_eq!((hits.load(Ordering::SeqCst), overlay_hits.load(Ordering::SeqCst)), (before, overlay_before));
    // A cached tile is still there offline.
    online::set_offline(true);
    assert!(src.render(12, 3300, 1500).unwrap().is_some());
    online::set_offline(false);
    // An unreachable server is an error naming the template, not a panic.
    let mut dead = OnlineSource::new(OnlineSpec {
        url: "http://127.0.0.1:9/{z}/{x}/{y}.png".into(),
        key: None,
        overlay: None,
        max_zoom: 18,
    })
    .with_cache(cache.path().join("dead"));
    let e = dead.render(3, 1, 1).unwrap_err();
    assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
    let _ = lonlat_to_merc(0.0, 0.0);
}

#[test]
fn the_tile_cache_is_trimmed_oldest_first_to_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    // Ten tiles of 1,000 bytes, each a minute newer than the one before.
    for i in 0..10u64 {
        let d = dir.path().join("tpl").join("12").join(i.to_string());
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("1.tile");
        std::fs::write(&f, vec![7u8; 1000]).unwrap();
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(t0 + std::time::Duration::from_secs(60 * i)).unwrap();
    }
    assert_eq!(online::trim_cache_to(dir.path(), 20_000), 0, "under the limit: nothing removed");
    // 10,000 bytes, limit 6,500: the four oldest go.
    assert_eq!(online::trim_cache_to(dir.path(), 6_500), 4);
    for i in 0..10u64 {
        let exists = dir.path().join(format!("tpl/12/{i}/1.tile")).exists();
        assert_eq!(exists, i >= 4, "tile {i}");
    }
}

/// A map server that records every request path and answers each with `reply`.
fn recording_server(reply: Vec<u8>, content_type: &'static str) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    local_server(move |_| ok_response(content_type, &reply))
}

/// The Web-Mercator extent of a tile, from the spherical Mercator definition (R = 6,378,137 m,
/// the world 2πR wide, tile rows from the north), written out here rather than taken from tuban.
fn tile_bbox_by_hand(z: u32, x: u32, y: u32) -> [f64; 4] {
    let half = std::f64::consts::PI * 6_378_137.0;
    let size = 2.0 * half / f64::from(1u32 << z);
    let (min_x, max_y) = (-half + f64::from(x) * size, half - f64::from(y) * size);
    [min_x, max_y - size, min_x + size, max_y]
}

fn bbox_of(path: &str, name: &str) -> [f64; 4] {
    let q = path.split_once('?').unwrap().1;
    let v = q.split('&').find_map(|p| p.split_once('=').filter(|(k, _)| k.eq_ignore_ascii_case(name))).unwrap().1;
    let n: Vec<f64> = v.split(',').map(|x| x.parse().unwrap()).collect();
    [n[0], n[1], n[2], n[3]]
}

#[test]
fn wms_and_arcgis_rest_sources_ask_for_the_tiles_extent_cache_and_stay_quiet_offline() {
    let _turn = OFFLINE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let cache = tempfile::tempdir().unwrap();
    let (z, x, y) = (12u8, 3300u32, 1500u32);
    let expected = tile_bbox_by_hand(u32::from(z), x, y);
    for (address, param) in [
        ("/geoserver/wms?service=WMS&version=1.3.0&layers=gf2:2025&tk=K", "BBOX"),
        ("/geoserver/wms?SERVICE=WMS&VERSION=1.1.1&LAYERS=gf2:2025", "BBOX"),
        ("/arcgis/rest/services/img/MapServer/export", "bbox"),
    ] {
        let (port, seen) = recording_server(png([40, 90, 200, 255]), "image/png");
        let spec = SourceSpec::detect(&format!("http://127.0.0.1:{port}{address}"));
        let mut src = source::open(&spec).unwrap();
        let SourceSpec::Online(o) = &spec else { panic!("{spec:?}") };
        let mut src_cached =
            OnlineSource::new(o.clone()).with_cache(cache.path().join(param).join(address.len().to_string()));
        let tile = src_cached.render(z, x, y).unwrap().unwrap();
        assert_eq!(&tile[..4], &[40, 90, 200, 255]);
        let paths = seen.lock().unwrap().clone();
        assert_eq!(paths.len(), 1, "{paths:?}");
        let got = bbox_of(&paths[0], param);
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-3, "{address}: bbox {got:?} vs {expected:?}");
        }
        if address.contains("wms") {
            let p = &paths[0];
            assert!(p.contains("REQUEST=GetMap") && p.contains("WIDTH=256") && p.contains("HEIGHT=256"), "{p}");
            assert!(p.contains(if address.contains("1.1.1") { "SRS=EPSG:3857" } else { "CRS=EPSG:3857" }), "{p}");
            assert!(!address.contains("tk=") || p.contains("tk=K"), "the user's key travels: {p}");
        }
        // Cached: the server is not asked again; offline: nothing is asked at all.
        assert!(src_cached.render(z, x, y).unwrap().is_some());
        online::set_offline(true);
        assert!(src_cached.render(z, x + 1, y).unwrap().is_none());
        assert!(src.render(z, x + 2, y).unwrap().is_none());
        online::set_offline(false);
        assert_eq!(seen.lock().unwrap().len(), 1, "{:?}", seen.lock().unwrap());
    }
    // ArcGIS cached tiles: row before column in the path.
    let (port, seen) = recording_server(png([1, 2, 3, 255]), "image/png");
    let spec = SourceSpec::detect(&format!("http://127.0.0.1:{port}/arcgis/rest/services/img/MapServer"));
    let SourceSpec::Online(o) = &spec else { panic!("{spec:?}") };
    let mut src = OnlineSource::new(o.clone()).with_cache(cache.path().join("tiles"));
    assert!(src.render(z, x, y).unwrap().is_some());
    assert_eq!(seen.lock().unwrap().clone(), vec![format!("/arcgis/rest/services/img/MapServer/tile/{z}/{y}/{x}")]);
    // A WMS that answers with a ServiceException: an error that quotes it, not a grey tile.
    let (port, _) = recording_server(
        b"<ServiceExceptionReport><ServiceException>Layer not found</ServiceException></ServiceExceptionReport>"
            .to_vec(),
        "text/xml",
    );
    let spec = SourceSpec::detect(&format!("http://127.0.0.1:{port}/wms?SERVICE=WMS&LAYERS=nope"));
    let SourceSpec::Online(o) = &spec else { panic!("{spec:?}") };
    let e = OnlineSource::new(o.clone()).with_cache(cache.path().join("err")).render(z, x, y).unwrap_err();
    assert!(e.to_string().contains("Layer not found"), "{e}");
}
