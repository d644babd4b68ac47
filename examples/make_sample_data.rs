//! Regenerates `sample-data/`: a fictional grassland county (示范旗, code 150999) with 30 change
//! patches delivered as a GBK shapefile in CGCS2000 3-degree Gauss-Krüger CM 111°E (EPSG:4546),
//! before/after GeoTIFFs in which the changes are visible, and field photos with EXIF GPS.
//!
//! Run: `cargo run --release --example make_sample_data [-- OUT_DIR]` (default `sample-data`).
//! Deterministic: the same build writes the same data.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldDefn, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal};
use gdal::{DriverManager, Metadata};
use geo::{BoundingRect, Contains, Coord, Geometry, LineString, MultiPolygon, Point, Polygon};

/// Pixel size of the imagery in metres.
const PIXEL_M: f64 = 2.0;
/// Imagery width and height in pixels.
const SIZE_PX: usize = 2400;
/// Upper-left corner (EPSG:4546 metres) of the imagery.
const ORIGIN: (f64, f64) = (538_000.0, 4_612_000.0);

/// The core's deterministic generator, with a range helper.
struct Rng(tuban_model::random::SplitMix64);

impl Rng {
    fn f(&mut self) -> f64 {
        self.0.next_f64()
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Change {
    Building,
    Road,
    Mining,
    Solar,
    Reclaim,
    Dump,
    Seasonal,
    Approved,
}

impl Change {
    fn label(self) -> &'static str {
        match self {
            Change::Building | Change::Approved => "草地→建设用地（建筑）",
            Change::Road => "草地→建设用地（道路）",
            Change::Mining => "草地→采矿用地",
            Change::Solar => "草地→光伏设施",
            Change::Reclaim => "草地→耕地",
            Change::Dump => "草地→裸地（堆放）",
            Change::Seasonal => "植被变化",
        }
    }
}

struct Patch {
    id: String,
    sub: Option<&'static str>,
    township: &'static str,
    village: &'static str,
    change: Change,
    geom: Geometry, // EPSG:4546 metres
    before: &'static str,
    after: &'static str,
}

const TOWNS: [(&str, [&str; 3]); 5] = [
    ("乌兰花镇", ["乌兰花村", "德力森嘎查", "红格尔村"]),
    ("查干补力格苏木", ["查干敖包嘎查", "巴音淖尔嘎查", "哈拉乌苏嘎查"]),
    ("白音敖包镇", ["白音敖包村", "大井村", "沙岗村"]),
    ("吉生太镇", ["吉生太村", "后房子村", "双胜村"]),
    ("巴音花乡", ["巴音花嘎查", "乌兰图克嘎查", "新地村"]),
];

fn blob(rng: &mut Rng, cx: f64, cy: f64, r: f64, spikes: usize, rough: f64) -> Polygon {
    let mut pts = Vec::new();
    for i in 0..spikes {
        let a = 2.0 * PI * i as f64 / spikes as f64;
        let rr = r * (1.0 - rough + 2.0 * rough * rng.f());
        pts.push(Coord { x: cx + rr * a.cos(), y: cy + rr * a.sin() });
    }
    pts.push(pts[0]);
    Polygon::new(LineString::new(pts), vec![])
}

fn rect(cx: f64, cy: f64, w: f64, h: f64, angle: f64) -> Polygon {
    let (s, c) = angle.sin_cos();
    let mut pts: Vec<Coord> = [(-w / 2.0, -h / 2.0), (w / 2.0, -h / 2.0), (w / 2.0, h / 2.0), (-w / 2.0, h / 2.0)]
        .iter()
        .map(|(x, y)| Coord { x: cx + x * c - y * s, y: cy + x * s + y * c })
        .collect();
    pts.push(pts[0]);
    Polygon::new(LineString::new(pts), vec![])
}

fn make_patches() -> Vec<Patch> {
    let mut rng = Rng(tuban_model::random::SplitMix64(20_250_801));
    let changes = [
        Change::Building,
        Change::Road,
        Change::Mining,
        Change::Solar,
        Change::Reclaim,
        Change::Dump,
        Change::Seasonal,
        Change::Approved,
    ];
    let mut out = Vec::new();
    let extent_m = SIZE_PX as f64 * PIXEL_M;
    let mut seq = 0;
    let mut centres: Vec<(f64, f64)> = Vec::new();
    while out.len() < 30 {
        let cx = ORIGIN.0 + rng.range(250.0, extent_m - 250.0);
        let cy = ORIGIN.1 - rng.range(250.0, extent_m - 250.0);
        if centres.iter().any(|(x, y)| (x - cx).hypot(y - cy) < 380.0) {
            continue;
        }
        centres.push((cx, cy));
        seq += 1;
        let change = changes[seq % changes.len()];
        let geom = match (change, seq) {
            (_, 7) => {
                // A mining pit with an island left standing: polygon with a hole.
                let outer = blob(&mut rng, cx, cy, 120.0, 14, 0.15);
                let inner = blob(&mut rng, cx + 10.0, cy - 5.0, 35.0, 8, 0.1);
                Geometry::Polygon(Polygon::new(outer.exterior().clone(), vec![inner.exterior().clone()]))
            }
            (Change::Solar, _) => Geometry::MultiPolygon(MultiPolygon(vec![
                rect(cx - 70.0, cy, 110.0, 150.0, 0.05),
                rect(cx + 75.0, cy + 20.0, 90.0, 120.0, 0.05),
            ])),
            (Change::Road, _) => Geometry::Polygon(rect(cx, cy, 420.0, 16.0, rng.range(-0.8, 0.8))),
            (Change::Building | Change::Approved, _) => {
                Geometry::Polygon(rect(cx, cy, rng.range(60.0, 140.0), rng.range(50.0, 110.0), rng.range(-0.4, 0.4)))
            }
            (Change::Reclaim, _) => {
                Geometry::Polygon(rect(cx, cy, rng.range(150.0, 260.0), rng.range(100.0, 180.0), rng.range(-0.3, 0.3)))
            }
            _ => {
                let r = rng.range(50.0, 110.0);
                Geometry::Polygon(blob(&mut rng, cx, cy, r, 11, 0.35))
            }
        };
        let (town, villages) =
            TOWNS[(((cx - ORIGIN.0) / extent_m * 2.5) as usize + 2 * ((ORIGIN.1 - cy) / extent_m * 2.0) as usize) % 5];
        let village = villages[seq % 3];
        let id = format!("150999SJBG2025{seq:06}");
        let before = ["2024-07-18", "2024-08-02", "2024-08-26"][seq % 3];
        let after = ["2025-07-21", "2025-08-09", "2025-08-30"][seq % 3];
        if seq == 12 {
            // A patch the county split into two sub-patches (细斑) during verification.
            let left = rect(cx - 45.0, cy, 80.0, 90.0, 0.1);
            let right = rect(cx + 45.0, cy, 80.0, 90.0, 0.1);
            out.push(Patch {
                id: id.clone(),
                sub: Some("1"),
                township: town,
                village,
                change: Change::Building,
                geom: Geometry::Polygon(left),
                before,
                after,
            });
            out.push(Patch {
                id,
                sub: Some("2"),
                township: town,
                village,
                change: Change::Reclaim,
                geom: Geometry::Polygon(right),
                before,
                after,
            });
            continue;
        }
        out.push(Patch { id, sub: None, township: town, village, change, geom, before, after });
    }
    out.truncate(30);
    out
}

/// Value noise with smooth interpolation, in [0, 1].
fn noise(x: f64, y: f64, seed: u64) -> f64 {
    let hash = |ix: i64, iy: i64| -> f64 {
        let mut h =
            (ix as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (iy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ seed;
        h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((h ^ (h >> 32)) & 0xFFFF) as f64 / 65535.0
    };
    let (ix, iy) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x.floor(), y - y.floor());
    let s = |t: f64| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (s(fx), s(fy));
    let a = hash(ix, iy) + (hash(ix + 1, iy) - hash(ix, iy)) * sx;
    let b = hash(ix, iy + 1) + (hash(ix + 1, iy + 1) - hash(ix, iy + 1)) * sx;
    a + (b - a) * sy
}

fn fbm(x: f64, y: f64, seed: u64) -> f64 {
    let mut v = 0.0;
    let mut amp = 0.5;
    let mut f = 1.0;
    for o in 0..5 {
        v += amp * noise(x * f, y * f, seed + o);
        amp *= 0.5;
        f *= 2.0;
    }
    v / 0.97
}

fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Renders one period: grassland, a river, tracks and a village; `after` adds the changes.
fn render(patches: &[Patch], after: bool) -> Vec<[u8; 3]> {
    let mut img = vec![[0u8; 3]; SIZE_PX * SIZE_PX];
    let dry = if after { [168.0, 160.0, 104.0] } else { [150.0, 158.0, 96.0] };
    let lush = if after { [84.0, 112.0, 58.0] } else { [72.0, 110.0, 54.0] };
    for row in 0..SIZE_PX {
        for col in 0..SIZE_PX {
            let (x, y) = (col as f64, row as f64);
            let t = fbm(x / 180.0, y / 180.0, 7);
            let detail = noise(x / 3.0, y / 3.0, 99) * 0.12;
            let mut c = mix(dry, lush, (t * 1.3 - 0.15).clamp(0.0, 1.0));
            c = mix(c, [120.0, 105.0, 80.0], (fbm(x / 60.0, y / 60.0, 3) - 0.62).max(0.0) * 1.6);
            // A river meandering north-south.
            let river_x = 700.0 + 160.0 * (y / 310.0).sin() + 60.0 * (y / 97.0).sin();
            let d = (x - river_x).abs();
            if d < 9.0 {
                c = [62.0, 82.0, 92.0];
            } else if d < 30.0 {
                c = mix([70.0, 100.0, 60.0], c, (d - 9.0) / 21.0);
            }
            // An old east-west dirt track and a village.
            let track_y = 1500.0 + 80.0 * (x / 400.0).sin();
            if (y - track_y).abs() < 3.0 {
                c = [196.0, 182.0, 150.0];
            }
            let (vx, vy) = (x - 1750.0, y - 1620.0);
            if vx.abs() < 140.0 && vy.abs() < 90.0 && (noise(x / 14.0, y / 14.0, 5) > 0.55) {
                c = if noise(x / 7.0, y / 7.0, 8) > 0.5 { [176.0, 80.0, 62.0] } else { [190.0, 190.0, 186.0] };
            }
            let v = 1.0 - 0.06 + detail;
            img[row * SIZE_PX + col] = [
                (c[0] * v).clamp(0.0, 255.0) as u8,
                (c[1] * v).clamp(0.0, 255.0) as u8,
                (c[2] * v).clamp(0.0, 255.0) as u8,
            ];
        }
    }
    if !after {
        return img;
    }
    for p in patches {
        let Some(r) = p.geom.bounding_rect() else { continue };
        let to_px = |x: f64, y: f64| (((x - ORIGIN.0) / PIXEL_M), ((ORIGIN.1 - y) / PIXEL_M));
        let (c0, r0) = to_px(r.min().x, r.max().y);
        let (c1, r1) = to_px(r.max().x, r.min().y);
        for row in (r0.floor().max(0.0) as usize)..(r1.ceil().min(SIZE_PX as f64) as usize) {
            for col in (c0.floor().max(0.0) as usize)..(c1.ceil().min(SIZE_PX as f64) as usize) {
                let x = ORIGIN.0 + (col as f64 + 0.5) * PIXEL_M;
                let y = ORIGIN.1 - (row as f64 + 0.5) * PIXEL_M;
                if !p.geom.contains(&Point::new(x, y)) {
                    continue;
                }
                let (fx, fy) = (col as f64, row as f64);
                let n = noise(fx / 2.0, fy / 2.0, 11);
                let px = &mut img[row * SIZE_PX + col];
                let c: [f64; 3] = match p.change {
                    Change::Building | Change::Approved => {
                        if ((fx / 9.0).floor() as i64 + (fy / 9.0).floor() as i64) % 3 == 0 {
                            [120.0, 124.0, 130.0]
                        } else {
                            [214.0, 212.0, 205.0]
                        }
                    }
                    Change::Road => [205.0, 200.0, 188.0],
                    Change::Mining => mix([150.0, 146.0, 140.0], [95.0, 92.0, 90.0], n),
                    Change::Solar => {
                        if (fy as i64) % 6 < 4 {
                            [38.0, 52.0, 92.0]
                        } else {
                            [170.0, 165.0, 150.0]
                        }
                    }
                    Change::Reclaim => {
                        if (fx as i64 / 4) % 2 == 0 {
                            [150.0, 118.0, 82.0]
                        } else {
                            [128.0, 100.0, 70.0]
                        }
                    }
                    Change::Dump => mix([225.0, 222.0, 214.0], [140.0, 132.0, 120.0], n),
                    Change::Seasonal => [px[0] as f64 * 1.12, px[1] as f64 * 1.02, px[2] as f64 * 0.9],
                };
                *px = [c[0].clamp(0.0, 255.0) as u8, c[1].clamp(0.0, 255.0) as u8, c[2].clamp(0.0, 255.0) as u8];
            }
        }
    }
    img
}

fn srs(epsg: u32) -> Result<SpatialRef> {
    let mut s = SpatialRef::from_epsg(epsg)?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

fn write_tif(path: &Path, img: &[[u8; 3]], date: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let drv = DriverManager::get_driver_by_name("GTiff")?;
    let mut opts = RasterCreationOptions::new();
    for (k, v) in [("COMPRESS", "JPEG"), ("PHOTOMETRIC", "YCBCR"), ("JPEG_QUALITY", "80"), ("TILED", "YES")] {
        opts.set_name_value(k, v)?;
    }
    let mut ds = drv.create_with_band_type_with_options::<u8, _>(path, SIZE_PX, SIZE_PX, 3, &opts)?;
    ds.set_geo_transform(&[ORIGIN.0, PIXEL_M, 0.0, ORIGIN.1, 0.0, -PIXEL_M])?;
    ds.set_spatial_ref(&srs(4546)?)?;
    ds.set_metadata_item("TIFFTAG_DATETIME", &format!("{} 11:00:00", date.replace('-', ":")), "")?;
    ds.set_metadata_item("ACQUISITION_DATE", date, "")?;
    for b in 0..3 {
        let data: Vec<u8> = img.iter().map(|p| p[b]).collect();
        let mut buf = Buffer::new((SIZE_PX, SIZE_PX), data);
        ds.rasterband(b + 1)?.write((0, 0), (SIZE_PX, SIZE_PX), &mut buf)?;
    }
    ds.build_overviews("AVERAGE", &[2, 4, 8], &[])?;
    Ok(())
}

fn write_shapefile(dir: &Path, patches: &[Patch]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("变化图斑.shp");
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    let drv = DriverManager::get_driver_by_name("ESRI Shapefile")?;
    let mut ds = drv.create_vector_only(&path)?;
    let gk = srs(4546)?;
    let wgs = srs(4490)?;
    let to_ll = CoordTransform::new(&gk, &wgs)?;
    let layer = ds.create_layer(LayerOptions {
        name: "变化图斑",
        srs: Some(&gk),
        ty: OGRwkbGeometryType::wkbPolygon,
        options: Some(&["ENCODING=CP936"]),
    })?;
    let fields: [(&str, OGRFieldType::Type, i32, i32); 13] = [
        ("TBBH", OGRFieldType::OFTString, 30, 0),
        ("XBH", OGRFieldType::OFTString, 4, 0),
        ("XZQDM", OGRFieldType::OFTString, 6, 0),
        ("XZMC", OGRFieldType::OFTString, 40, 0),
        ("CMC", OGRFieldType::OFTString, 40, 0),
        ("ZXJD", OGRFieldType::OFTReal, 12, 6),
        ("ZXWD", OGRFieldType::OFTReal, 12, 6),
        ("QSX", OGRFieldType::OFTDate, 8, 0),
        ("HSX", OGRFieldType::OFTDate, 8, 0),
        ("JCMJ", OGRFieldType::OFTReal, 14, 2),
        ("PDBHLX", OGRFieldType::OFTString, 40, 0),
        ("SJLY", OGRFieldType::OFTString, 20, 0),
        ("JCND", OGRFieldType::OFTInteger, 4, 0),
    ];
    for (name, ty, width, precision) in fields {
        let f = FieldDefn::new(name, ty)?;
        f.set_width(width);
        f.set_precision(precision);
        f.add_to_layer(&layer)?;
    }
    let layer = ds.layer(0)?;
    for p in patches {
        let g = p.geom.to_gdal()?;
        let ll = g.transform(&to_ll)?;
        let env = ll.envelope();
        let (lon, lat) = ((env.MinX + env.MaxX) / 2.0, (env.MinY + env.MaxY) / 2.0);
        let defn = gdal::vector::Defn::from_layer(&layer);
        let mut f = gdal::vector::Feature::new(&defn)?;
        f.set_geometry(g.clone())?;
        let idx = |n: &str| defn.field_index(n);
        f.set_field_string(idx("TBBH")?, &p.id)?;
        if let Some(sub) = p.sub {
            f.set_field_string(idx("XBH")?, sub)?;
        }
        f.set_field_string(idx("XZQDM")?, "150999")?;
        f.set_field_string(idx("XZMC")?, p.township)?;
        f.set_field_string(idx("CMC")?, p.village)?;
        f.set_field_double(idx("ZXJD")?, (lon * 1e6).round() / 1e6)?;
        f.set_field_double(idx("ZXWD")?, (lat * 1e6).round() / 1e6)?;
        f.set_field_string(idx("QSX")?, p.before)?;
        f.set_field_string(idx("HSX")?, p.after)?;
        f.set_field_double(idx("JCMJ")?, (g.area() * 100.0).round() / 100.0)?;
        f.set_field_string(idx("PDBHLX")?, p.change.label())?;
        f.set_field_string(idx("SJLY")?, "国家下发")?;
        f.set_field_integer(idx("JCND")?, 2025)?;
        f.create(&layer)?;
    }

    drop(ds);
    // As delivered in practice: GBK text, no .cpg and no code-page byte (tuban detects GBK).
    let _ = std::fs::remove_file(path.with_extension("cpg"));
    let dbf = path.with_extension("dbf");
    let mut bytes = std::fs::read(&dbf)?;
    if bytes.len() > 29 {
        bytes[29] = 0;
    }
    std::fs::write(&dbf, bytes)?;
    Ok(path)
}

/// A minimal EXIF block (APP1) with camera, time, orientation and a GPS position and bearing.
fn exif_app1(lat: f64, lon: f64, alt_m: f64, bearing_deg: f64, time: &str) -> Vec<u8> {
    // Little-endian TIFF: header, IFD0 (4 entries), Exif IFD (1), GPS IFD (9), then values.
    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    let ifd0_n = 5u16;
    let exif_n = 1u16;
    let gps_n = 9u16;
    let ifd_len = |n: u16| 2 + 12 * n as u32 + 4;
    let ifd0_off = 8u32;
    let exif_off = ifd0_off + ifd_len(ifd0_n);
    let gps_off = exif_off + ifd_len(exif_n);
    let mut data_off = gps_off + ifd_len(gps_n);
    let mut data: Vec<u8> = Vec::new();
    let mut entries: Vec<(u32, Vec<[u8; 12]>)> = vec![(ifd0_off, vec![]), (exif_off, vec![]), (gps_off, vec![])];
    let put = |which: usize,
               tag: u16,
               ty: u16,
               count: u32,
               value: Vec<u8>,
               entries: &mut Vec<(u32, Vec<[u8; 12]>)>,
               data: &mut Vec<u8>,
               data_off: &mut u32| {
        let mut e = [0u8; 12];
        e[0..2].copy_from_slice(&tag.to_le_bytes());
        e[2..4].copy_from_slice(&ty.to_le_bytes());
        e[4..8].copy_from_slice(&count.to_le_bytes());
        if value.len() <= 4 {
            e[8..8 + value.len()].copy_from_slice(&value);
        } else {
            e[8..12].copy_from_slice(&data_off.to_le_bytes());
            *data_off += value.len() as u32;
            data.extend_from_slice(&value);
        }
        entries[which].1.push(e);
    };
    let ascii = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    let rational = |vals: &[(u32, u32)]| {
        vals.iter().flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes())).collect::<Vec<u8>>()
    };
    let dms = |v: f64| {
        let v = v.abs();
        let d = v.floor();
        let m = ((v - d) * 60.0).floor();
        let s = ((v - d) * 60.0 - m) * 60.0;
        rational(&[(d as u32, 1), (m as u32, 1), ((s * 1000.0).round() as u32, 1000)])
    };
    let make = ascii("TUBAN-SAMPLE");
    put(0, 0x010F, 2, make.len() as u32, make, &mut entries, &mut data, &mut data_off);
    let model = ascii("Field Camera");
    put(0, 0x0110, 2, model.len() as u32, model, &mut entries, &mut data, &mut data_off);
    put(0, 0x0112, 3, 1, 1u16.to_le_bytes().to_vec(), &mut entries, &mut data, &mut data_off);
    put(0, 0x8769, 4, 1, exif_off.to_le_bytes().to_vec(), &mut entries, &mut data, &mut data_off);
    put(0, 0x8825, 4, 1, gps_off.to_le_bytes().to_vec(), &mut entries, &mut data, &mut data_off);
    let dt = ascii(time);
    put(1, 0x9003, 2, dt.len() as u32, dt, &mut entries, &mut data, &mut data_off);
    put(2, 0x0000, 1, 4, vec![2, 3, 0, 0], &mut entries, &mut data, &mut data_off);
    put(2, 0x0001, 2, 2, ascii(if lat >= 0.0 { "N" } else { "S" }), &mut entries, &mut data, &mut data_off);
    put(2, 0x0002, 5, 3, dms(lat), &mut entries, &mut data, &mut data_off);
    put(2, 0x0003, 2, 2, ascii(if lon >= 0.0 { "E" } else { "W" }), &mut entries, &mut data, &mut data_off);
    put(2, 0x0004, 5, 3, dms(lon), &mut entries, &mut data, &mut data_off);
    put(2, 0x0005, 1, 1, vec![0], &mut entries, &mut data, &mut data_off);
    put(2, 0x0006, 5, 1, rational(&[((alt_m * 10.0).round() as u32, 10)]), &mut entries, &mut data, &mut data_off);
    put(2, 0x0010, 2, 2, ascii("T"), &mut entries, &mut data, &mut data_off);
    put(
        2,
        0x0011,
        5,
        1,
        rational(&[((bearing_deg * 100.0).round() as u32, 100)]),
        &mut entries,
        &mut data,
        &mut data_off,
    );
    for (_, list) in &entries {
        t.extend_from_slice(&(list.len() as u16).to_le_bytes());
        for e in list {
            t.extend_from_slice(e);
        }
        t.extend_from_slice(&0u32.to_le_bytes());
    }
    t.extend_from_slice(&data);
    let mut app1 = vec![0xFF, 0xE1];
    let len = (2 + 6 + t.len()) as u16;
    app1.extend_from_slice(&len.to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&t);
    app1
}

/// A ground-level field photo: sky, horizon, grassland and the change in the foreground.
fn write_photo(path: &Path, change: Change, seed: u64, lat: f64, lon: f64, bearing: f64, time: &str) -> Result<()> {
    let (w, h) = (1280u32, 960u32);
    let horizon = 380.0;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f64, y as f64);
        let c = if fy < horizon + 25.0 * (fx / 210.0).sin() {
            mix([120.0, 160.0, 215.0], [205.0, 222.0, 238.0], fy / horizon)
        } else {
            let depth = (fy - horizon) / (h as f64 - horizon);
            let n = noise(fx / (6.0 + 30.0 * depth), fy / (3.0 + 12.0 * depth), seed);
            let grass = mix([150.0, 150.0, 95.0], [85.0, 115.0, 60.0], n);
            let in_change = fy > 520.0 && (fx - 640.0).abs() < 150.0 + (fy - 520.0) * 1.2;
            if in_change {
                match change {
                    Change::Building | Change::Approved => {
                        if fy < 700.0 && (fx - 640.0).abs() < 200.0 {
                            [200.0, 198.0, 190.0]
                        } else {
                            [150.0, 140.0, 125.0]
                        }
                    }
                    Change::Mining | Change::Dump => mix([165.0, 160.0, 150.0], [110.0, 105.0, 100.0], n),
                    Change::Reclaim => {
                        if ((fx - 640.0) / 20.0 + fy / 40.0) as i64 % 2 == 0 {
                            [140.0, 108.0, 75.0]
                        } else {
                            [118.0, 92.0, 64.0]
                        }
                    }
                    Change::Solar => {
                        if (fy as i64 / 18) % 2 == 0 {
                            [45.0, 60.0, 100.0]
                        } else {
                            [160.0, 160.0, 150.0]
                        }
                    }
                    _ => mix([195.0, 188.0, 165.0], grass, n * 0.3),
                }
            } else {
                grass
            }
        };
        image::Rgb([c[0].clamp(0.0, 255.0) as u8, c[1].clamp(0.0, 255.0) as u8, c[2].clamp(0.0, 255.0) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 82).encode_image(&img)?;
    // Insert the EXIF APP1 right after SOI.
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&exif_app1(lat, lon, 1452.0, bearing, time));
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(path, out)?;
    Ok(())
}

fn main() -> Result<()> {
    let out = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("sample-data"));
    std::fs::create_dir_all(out.join("imagery")).context("imagery folder")?;
    std::fs::create_dir_all(out.join("photos")).context("photos folder")?;
    let patches = make_patches();
    let shp = write_shapefile(&out.join("patches"), &patches)?;
    println!("{}: {} patches", shp.display(), patches.len());
    for (after, name, date) in
        [(false, "2024-08_前时相_GF2.tif", "2024-08-02"), (true, "2025-08_后时相_GF2.tif", "2025-08-09")]
    {
        let img = render(&patches, after);
        let path = out.join("imagery").join(name);
        write_tif(&path, &img, date)?;
        println!("{}", path.display());
    }
    let gk = srs(4546)?;
    let ll = srs(4490)?;
    let to_ll = CoordTransform::new(&gk, &ll)?;
    for (n, pi) in [1usize, 5, 8].into_iter().enumerate() {
        let p = &patches[pi];
        let Some(c) = geo::Centroid::centroid(&p.geom) else { continue };
        let (mut xs, mut ys, mut zs) = ([c.x()], [c.y()], [0.0]);
        to_ll.transform_coords(&mut xs, &mut ys, &mut zs)?;
        let name = format!("{}_{}_{}_{}.jpg", p.township, p.village, p.id, n + 1);
        let path = out.join("photos").join(name);
        write_photo(
            &path,
            p.change,
            40 + n as u64,
            ys[0],
            xs[0],
            35.0 + 100.0 * n as f64,
            &format!("2025:09:1{} 10:2{}:00", n + 2, n),
        )?;
        println!("{}", path.display());
    }
    Ok(())
}
