//! Colours, spacing and fonts of the app, in one place.

use egui::{Color32, FontData, FontDefinitions, FontFamily};

use tuban_model::ReviewStatus;

/// The bundled CJK font (shared with the headless renderer).
pub use tuban_core::render::CJK_FONT;

/// Fill colour of a patch by review status (translucent).
pub fn status_fill(status: ReviewStatus) -> Color32 {
    match status {
        ReviewStatus::Unreviewed => Color32::from_rgba_unmultiplied(255, 214, 10, 30),
        ReviewStatus::InProgress => Color32::from_rgba_unmultiplied(64, 156, 255, 35),
        ReviewStatus::Done => Color32::from_rgba_unmultiplied(52, 199, 89, 35),
        ReviewStatus::Problem => Color32::from_rgba_unmultiplied(255, 69, 58, 40),
    }
}

/// Outline colour of a patch by review status.
pub fn status_stroke(status: ReviewStatus) -> Color32 {
    match status {
        ReviewStatus::Unreviewed => Color32::from_rgb(255, 214, 10),
        ReviewStatus::InProgress => Color32::from_rgb(64, 156, 255),
        ReviewStatus::Done => Color32::from_rgb(52, 199, 89),
        ReviewStatus::Problem => Color32::from_rgb(255, 69, 58),
    }
}

/// Outline of the current patch.
pub const CURRENT_STROKE: Color32 = Color32::from_rgb(0, 255, 255);
/// A clue being drawn (magenta: apart from every status colour and from the imagery).
pub const CLUE_STROKE: Color32 = Color32::from_rgb(255, 64, 255);
/// The issued outline, dashed beside a redrawn extent or around a 细斑.
pub const ISSUED_DASH: Color32 = Color32::from_rgb(255, 255, 255);
/// A sketch of the geometry tools (split line, redraw, measure) and the reshape handles.
pub const SKETCH_STROKE: Color32 = Color32::from_rgb(255, 149, 0);
/// A point snapped to a neighbour's vertex or edge.
pub const SNAP_MARK: Color32 = Color32::from_rgb(255, 45, 85);
/// Width of ordinary outlines, in points.
pub const OUTLINE_WIDTH: f32 = 1.5;
/// Width of the current patch's outline, in points.
pub const CURRENT_WIDTH: f32 = 3.0;
/// Errors in the form.
pub const ERROR_TEXT: Color32 = Color32::from_rgb(220, 50, 47);
/// Warnings in the form.
pub const WARNING_TEXT: Color32 = Color32::from_rgb(203, 130, 0);
/// Read-only values.
pub const READ_ONLY_TEXT: Color32 = Color32::from_gray(140);
/// Width of the queue panel, in points.
pub const QUEUE_WIDTH: f32 = 410.0;
/// Width of the form panel, in points.
pub const FORM_WIDTH: f32 = 380.0;
/// Margin around a fitted patch, as a share of the view.
pub const FIT_MARGIN: f64 = 0.35;

/// Installs the bundled CJK font after egui's own fonts, in every family, so Latin text keeps
/// egui's look and every Chinese glyph renders (no boxes).
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert("noto_sans_sc".into(), std::sync::Arc::new(FontData::from_static(CJK_FONT)));
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("noto_sans_sc".into());
    }
    ctx.set_fonts(fonts);
}

/// Applies the look of tuban to a context: fonts, spacing.
pub fn apply(ctx: &egui::Context) {
    install_fonts(ctx);
    ctx.global_style_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 5.0);
        style.spacing.button_padding = egui::vec2(8.0, 3.0);
    });
}
