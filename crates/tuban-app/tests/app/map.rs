//! The map at county zoom: patches smaller than a few pixels are squares in their status colour,
//! drawn from one image that follows a status change.

use super::*;

/// The colour of the rendered window at a screen point.
fn pixel(img: &image::RgbaImage, p: egui::Pos2) -> [u8; 3] {
    let px = img.get_pixel(p.x.round() as u32, p.y.round() as u32).0;
    [px[0], px[1], px[2]]
}

#[test]
fn patches_at_county_zoom_are_squares_in_their_status_colour() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    // The sample's 30 patches are 100–300 m across: at zoom 10 (about 115 m a pixel) each is
    // under 3 pixels, a square of 3 points.
    let centre = {
        let ws = h.state().ws.as_ref().unwrap();
        ws.records[0].center_lonlat.unwrap()
    };
    // No current patch: its outline and label would lie over the squares.
    h.state_mut().ws.as_mut().unwrap().current = None;
    let _ = h.state_mut().map_memory_mut().set_zoom(10.0);
    h.state_mut().map_memory_mut().center_at(walkers::lon_lat(centre.0, centre.1));
    h.run_steps(2);
    let t = tuban_app::map::last_transform(&h.ctx).expect("the map was drawn");
    // A patch with no other patch within 6 pixels.
    let (k, pos) = {
        let ws = h.state().ws.as_ref().unwrap();
        let screen: Vec<egui::Pos2> = ws
            .records
            .iter()
            .map(|r| {
                let (lon, lat) = r.center_lonlat.unwrap();
                t.to_screen(tuban_app::state::merc01(lon, lat))
            })
            .collect();
        let k = (0..screen.len())
            .find(|&i| {
                (ws.shapes[i].bbox[2] - ws.shapes[i].bbox[0]).max(ws.shapes[i].bbox[3] - ws.shapes[i].bbox[1])
                    < 2.5 / t.scale()
                    && screen.iter().enumerate().all(|(j, q)| j == i || q.distance(screen[i]) > 6.0)
            })
            .expect("an isolated small patch");
        let b = ws.shapes[k].bbox;
        (k, t.to_screen([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]))
    };
    let img = h.render().expect("render the window");
    // Colours from the theme's status strokes (unreviewed: amber), checked on the rendered pixels.
    assert_eq!(pixel(&img, pos), [255, 214, 10], "patch {k} at {pos:?} is not an amber square");
    // Beside the square: not the status colour (the square is 3 points, not a blob).
    assert_ne!(pixel(&img, pos + egui::vec2(4.0, 0.0)), [255, 214, 10]);
    // A status change shows on the next frame (the image is redrawn, not the last one kept).
    let ws = h.state_mut().ws.as_mut().unwrap();
    ws.records[k].status = ReviewStatus::Done;
    ws.records_changed();
    h.run_steps(1);
    let img = h.render().expect("render the window");
    assert_eq!(pixel(&img, pos), [52, 199, 89], "patch {k} did not turn green");
}
