//! Headless map images: chips of the sample patches over both periods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use tuban_core::render::{render, Overlay, RenderError, RenderOptions};
use tuban_core::store::Period;

fn sample() -> (tempfile::TempDir, tuban_core::store::Project) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let imagery = common::sample("imagery");
    for (name, file, date) in
        [("before", "2024-08_前时相_GF2.tif", "2024-08-02"), ("after", "2025-08_后时相_GF2.tif", "2025-08-09")]
    {
        let spec = tuban_core::imagery::SourceSpec::detect(&imagery.join(file).to_string_lossy());
        p.add_imagery(name, &spec, tuban_model::value::parse_date(date), name).unwrap();
    }
    (dir, p)
}

fn yellow(img: &image::RgbaImage) -> usize {
    img.pixels().filter(|p| p[0] > 220 && p[1] > 220 && p[2] < 60).count()
}

#[test]
fn a_chip_shows_the_change_between_periods() {
    let (_dir, p) = sample();
    // Patch 5: waste dumped on grassland (bright ground in the after image).
    let fid = p.find_patch("150999SJBG2025000005").unwrap().unwrap();
    let record = p.patch(fid).unwrap().unwrap();
    let geom = p.patch_geometry(fid).unwrap().unwrap();
    let sources = p.imagery().unwrap();
    let before = p.imagery_for(&record, &sources, Period::Before).unwrap();
    let after = p.imagery_for(&record, &sources, Period::After).unwrap();
    assert_eq!((sources[before].name.as_str(), sources[after].name.as_str()), ("before", "after"));
    let overlay =
        Overlay { geom: geom.clone(), rgba: [255, 255, 0, 255], label: record.key.clone(), line: Default::default() };
    let opts = RenderOptions { size_px: (400, 300), labels: false, ..Default::default() };
    let a = render(Some(&sources[before].spec), std::slice::from_ref(&overlay), &opts).unwrap();
    let b = render(Some(&sources[after].spec), &[overlay], &opts).unwrap();
    assert_eq!(a.dimensions(), (400, 300));
    assert!(yellow(&a) > 300, "outline drawn: {}", yellow(&a));
    let centre_mean = |img: &image::RgbaImage| {
        let mut s = 0u64;
        for y in 140..160 {
            for x in 190..210 {
                let p = img.get_pixel(x, y);
                s += u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]);
            }
        }
        s / 400
    };
    let (ma, mb) = (centre_mean(&a), centre_mean(&b));
    assert!(mb > ma + 60 || ma > mb + 60, "the change is visible: before {ma}, after {mb}");
}

#[test]
fn points_without_imagery_and_bad_sizes() {
    let pt = geo::Geometry::Point(geo::Point::new(111.5, 41.6));
    let img = render(
        None,
        &[Overlay { geom: pt.clone(), rgba: [0, 255, 255, 255], label: "线索".into(), line: Default::default() }],
        &RenderOptions::default(),
    )
    .unwrap();
    assert_eq!(img.dimensions(), (800, 600));
    let cyan = img.pixels().filter(|p| p[0] < 40 && p[1] > 220 && p[2] > 220).count();
    assert!(cyan > 30, "{cyan}");
    let e = render(
        None,
        &[Overlay { geom: pt, rgba: [0, 0, 0, 255], label: String::new(), line: Default::default() }],
        &RenderOptions { size_px: (0, 10), ..Default::default() },
    )
    .unwrap_err();
    assert!(matches!(e, RenderError::BadSize(0, 10)));
    assert!(matches!(render(None, &[], &RenderOptions::default()), Err(RenderError::EmptyExtent)));
}

/// The issued outline is dashed: fewer stroked pixels than the same outline solid, but many.
#[test]
fn a_dashed_outline_strokes_part_of_the_line() {
    use geo::polygon;
    use tuban_core::render::{render_from, Line, Overlay, RenderOptions};
    let square = geo::Geometry::Polygon(
        polygon![(x: 111.0, y: 41.0), (x: 111.001, y: 41.0), (x: 111.001, y: 41.001), (x: 111.0, y: 41.001), (x: 111.0, y: 41.0)],
    );
    let ro = RenderOptions {
        size_px: (400, 300),
        scale_bar: false,
        north_arrow: false,
        labels: false,
        ..Default::default()
    };
    let count = |line| {
        let o = Overlay { geom: square.clone(), rgba: [255, 0, 0, 255], label: String::new(), line };
        let img = render_from(None, &[o], &ro).unwrap();
        img.pixels().filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60).count()
    };
    let (solid, dashed) = (count(Line::Solid), count(Line::Dashed));
    assert!(solid > 1000, "{solid}");
    assert!(dashed * 10 > solid * 3 && dashed * 10 < solid * 8, "dashed {dashed} of solid {solid}");
}
