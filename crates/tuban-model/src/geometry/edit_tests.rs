use super::*;
use geo::{coord, polygon};

/// A 0.002° × 0.001° rectangle at 111°E 41°N (about 168 m × 111 m).
fn rect() -> Geometry {
    Geometry::Polygon(
        polygon![(x: 111.0, y: 41.0), (x: 111.002, y: 41.0), (x: 111.002, y: 41.001), (x: 111.0, y: 41.001), (x: 111.0, y: 41.0)],
    )
}

#[test]
fn a_vertical_line_through_the_middle_halves_the_rectangle() {
    let parts = split_by_line(&rect(), &[coord! {x: 111.001, y: 40.999}, coord! {x: 111.001, y: 41.002}]).unwrap();
    assert_eq!(parts.len(), 2);
    let whole = area_m2(&rect());
    let a: Vec<f64> = parts.iter().map(|p| area_m2(&Geometry::Polygon(p.clone()))).collect();
    // Hand check: the two halves of a rectangle split at its middle meridian are mirror images.
    assert!((a[0] - a[1]).abs() / whole < 1e-6, "{a:?}");
    assert!((a[0] + a[1] - whole).abs() / whole < 1e-6, "{a:?} vs {whole}");
    // About 168 m × 111 m = 18,650 m² (0.002° of longitude at 41°N is 168.0 m, 0.001° of latitude 111.0 m).
    assert!((whole - 168.0 * 111.05).abs() < 60.0, "{whole}");
}

#[test]
fn a_bent_line_cuts_three_parts_and_keeps_the_area() {
    // Down across the patch, back up across it: three parts.
    let line = [
        coord! {x: 111.0005, y: 41.002},
        coord! {x: 111.0005, y: 40.9995},
        coord! {x: 111.0015, y: 40.9995},
        coord! {x: 111.0015, y: 41.002},
    ];
    let parts = split_by_line(&rect(), &line).unwrap();
    assert_eq!(parts.len(), 3);
    let sum: f64 = parts.iter().map(|p| area_m2(&Geometry::Polygon(p.clone()))).sum();
    assert!((sum - area_m2(&rect())).abs() / area_m2(&rect()) < 1e-6);
    assert!(subpatch_problems(
        &rect(),
        &parts.into_iter().map(Geometry::Polygon).collect::<Vec<_>>(),
        SUBPATCH_TOLERANCE_M2
    )
    .unwrap()
    .is_empty());
}

#[test]
fn a_line_that_stops_inside_does_not_split() {
    let line = [coord! {x: 111.001, y: 40.999}, coord! {x: 111.001, y: 41.0005}];
    assert_eq!(split_by_line(&rect(), &line), Err(GeometryError::LineMissesPatch));
    let outside = [coord! {x: 112.0, y: 40.0}, coord! {x: 112.0, y: 42.0}];
    assert_eq!(split_by_line(&rect(), &outside), Err(GeometryError::LineMissesPatch));
}

#[test]
fn a_polygon_inside_cuts_an_island_and_a_ring() {
    let island = polygon![(x: 111.0005, y: 41.0002), (x: 111.001, y: 41.0002), (x: 111.001, y: 41.0007), (x: 111.0005, y: 41.0007), (x: 111.0005, y: 41.0002)];
    let parts = split_by_polygon(&rect(), &island).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].interiors().len(), 1, "the larger part has the island as a hole");
    let island_m2 = area_m2(&Geometry::Polygon(island));
    assert!((area_m2(&Geometry::Polygon(parts[1].clone())) - island_m2).abs() < 0.01);
    let far = polygon![(x: 112.0, y: 42.0), (x: 112.001, y: 42.0), (x: 112.001, y: 42.001), (x: 112.0, y: 42.0)];
    assert_eq!(split_by_polygon(&rect(), &far), Err(GeometryError::PolygonMissesPatch));
}

#[test]
fn a_bow_tie_and_a_two_vertex_ring_are_refused() {
    let bow = Geometry::Polygon(
        polygon![(x: 111.0, y: 41.0), (x: 111.001, y: 41.001), (x: 111.001, y: 41.0), (x: 111.0, y: 41.001), (x: 111.0, y: 41.0)],
    );
    assert_eq!(check(&bow), Err(GeometryError::SelfIntersection));
    let thin = Geometry::Polygon(polygon![(x: 111.0, y: 41.0), (x: 111.001, y: 41.001), (x: 111.0, y: 41.0)]);
    assert_eq!(check(&thin), Err(GeometryError::TooFewVertices));
    assert_eq!(check(&Geometry::Point(geo::Point::new(111.0, 41.0))), Err(GeometryError::NotAPolygon));
    assert_eq!(check(&rect()), Ok(()));
}

#[test]
fn moving_a_vertex_across_makes_a_bow_tie_and_deleting_to_two_is_refused() {
    let v = VertexRef { polygon: 0, ring: 0, index: 1 };
    let moved = move_vertex(&rect(), v, coord! {x: 110.999, y: 41.0005}).unwrap();
    assert_eq!(check(&moved), Err(GeometryError::SelfIntersection));
    let inserted = insert_vertex(&rect(), VertexRef { index: 0, ..v }, coord! {x: 111.001, y: 40.9995}).unwrap();
    assert!(area_m2(&inserted) > area_m2(&rect()));
    let Geometry::Polygon(p) = &inserted else { panic!() };
    assert_eq!(p.exterior().0.len(), 6, "five vertices and the closing point");
    let tri = delete_vertex(&rect(), v).unwrap();
    assert_eq!(check(&tri), Ok(()));
    assert!((area_m2(&tri) - area_m2(&rect()) / 2.0).abs() < 1.0, "a rectangle less a corner is half of it");
    assert_eq!(delete_vertex(&tri, v), Err(GeometryError::TooFewVertices));
}

#[test]
fn outside_the_parent_is_measured() {
    let shifted = Geometry::Polygon(
        polygon![(x: 111.001, y: 41.0), (x: 111.003, y: 41.0), (x: 111.003, y: 41.001), (x: 111.001, y: 41.001), (x: 111.001, y: 41.0)],
    );
    let half = area_m2(&rect()) / 2.0;
    let out = outside_m2(&shifted, &rect()).unwrap();
    assert!((out - half).abs() / half < 1e-3, "{out} vs {half}");
    assert!(matches!(check_within(&shifted, &rect(), 1.0), Err(GeometryError::OutsideParent { .. })));
    assert_eq!(check_within(&rect(), &rect(), 0.0), Ok(()));
}

#[test]
fn overlapping_and_missing_subpatches_are_found() {
    let left = Geometry::Polygon(
        polygon![(x: 111.0, y: 41.0), (x: 111.0011, y: 41.0), (x: 111.0011, y: 41.001), (x: 111.0, y: 41.001), (x: 111.0, y: 41.0)],
    );
    let right = Geometry::Polygon(
        polygon![(x: 111.001, y: 41.0), (x: 111.0018, y: 41.0), (x: 111.0018, y: 41.001), (x: 111.001, y: 41.001), (x: 111.001, y: 41.0)],
    );
    let problems = subpatch_problems(&rect(), &[left, right], SUBPATCH_TOLERANCE_M2).unwrap();
    // Overlap: 0.0001° × 0.001° ≈ 8.4 m × 111 m ≈ 932 m²; uncovered 0.0002° wide ≈ 1,865 m².
    assert!(
        matches!(problems[0], SubpatchProblem::Overlap { a: 0, b: 1, area_m2 } if (area_m2 - 932.0).abs() < 10.0),
        "{problems:?}"
    );
    assert!(
        matches!(problems[1], SubpatchProblem::Uncovered { area_m2 } if (area_m2 - 1865.0).abs() < 20.0),
        "{problems:?}"
    );
}

#[test]
fn union_of_the_halves_is_the_whole() {
    let parts = split_by_line(&rect(), &[coord! {x: 111.001, y: 40.999}, coord! {x: 111.001, y: 41.002}]).unwrap();
    let whole = union(&parts.into_iter().map(Geometry::Polygon).collect::<Vec<_>>()).unwrap();
    assert!(matches!(whole, Geometry::Polygon(_)));
    assert!((area_m2(&whole) - area_m2(&rect())).abs() < 0.01);
}

#[test]
fn wkt_round_trips_exactly() {
    let g = rect();
    let text = to_wkt(&g);
    assert!(text.starts_with("POLYGON(("), "{text}");
    assert_eq!(from_wkt(&text).unwrap(), g);
    assert!(from_wkt("POLYGON((1 2,").is_err());
}

#[test]
fn snapping_prefers_a_vertex_then_an_edge() {
    let ring: Vec<[f64; 2]> = vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
    let rings = [ring.as_slice()];
    assert_eq!(snap([9.0, 0.5], rings, 2.0), Some(([10.0, 0.0], SnapKind::Vertex)));
    assert_eq!(snap([5.0, 0.8], rings, 2.0), Some(([5.0, 0.0], SnapKind::Edge)));
    assert_eq!(snap([5.0, 5.0], rings, 2.0), None);
}

#[test]
fn geodesic_length_of_one_degree_of_latitude() {
    // One degree of latitude centred on 41.5°N, from the published series for the meridian
    // degree on the WGS 84 / GRS 80 ellipsoid: 111132.954 − 559.822 cos 2φ + 1.175 cos 4φ m.
    let phi = 41.5f64.to_radians();
    let expected = 111_132.954 - 559.822 * (2.0 * phi).cos() + 1.175 * (4.0 * phi).cos();
    let l = length_m(&[coord! {x: 111.0, y: 41.0}, coord! {x: 111.0, y: 42.0}]);
    assert!((l - expected).abs() < 2.0, "{l} vs {expected}");
}

#[test]
fn a_collinear_sliver_has_no_area() {
    // All on one line: no orientation to correct; must not measure as the rest of the Earth.
    let sliver = Geometry::Polygon(
        polygon![(x: 111.0, y: 41.0), (x: 111.001, y: 41.001), (x: 111.002, y: 41.002), (x: 111.0, y: 41.0)],
    );
    assert_eq!(area_m2(&sliver), 0.0);
}

#[test]
fn a_near_sliver_left_by_an_overlay_is_not_the_rest_of_the_earth() {
    // A sliver the union/difference of real 细斑 left (0.14 m² in the plane).
    let text = "POLYGON((111.46044121783507 41.62746006517589,111.4598220683738 41.62743930428949,111.46087686895135 41.62747467312327,111.46044121783507 41.62746006517589))";
    let a = area_m2(&from_wkt(text).unwrap());
    assert!(a < 1.0, "{a}");
}
