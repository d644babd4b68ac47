//! The QGIS layer style of the `patches` layer, generated from the template without any I/O:
//! Chinese aliases from the field labels, value-map widgets from the code lists, the template's
//! field order in the attribute table and the form, issued, computed and tuban's own columns
//! read-only, and fills categorised by review status in the window's colours.
//!
//! The store writes it as the default style of the GeoPackage `layer_styles` table, which QGIS
//! applies whenever it opens the layer.

use std::fmt::Write as _;

use tuban_model::{Field, FieldKind, ReviewStatus, Template};

/// The QGIS version the style is written for (QGIS reads older styles without complaint).
const QGIS_VERSION: &str = "3.22.16-Białowieża";

/// tuban's own columns of `patches`, with their Chinese labels, in table order.
pub const TUBAN_COLUMNS: [(&str, &str); 19] = [
    ("fid", "要素号"),
    ("review_status", "核查状态"),
    ("area_m2", "面积（平方米）"),
    ("area_mu", "面积（亩）"),
    ("area_ha", "面积（公顷）"),
    ("center_lon", "中心经度"),
    ("center_lat", "中心纬度"),
    ("batch_id", "导入批次"),
    ("import_issues", "导入问题"),
    ("extra_attrs", "其他原始属性"),
    ("updated_at", "修改时间"),
    ("verdict_imagery", "判定所用影像"),
    ("review_flags", "核查标记"),
    ("confidence", "把握程度"),
    ("verified_geom", "核实范围"),
    ("parent_fid", "拆分自要素号"),
    ("split_state", "已拆分为细斑"),
    ("uid", "唯一标识"),
    ("geom", "几何"),
];

/// Outline colour (RGB) of a review status: the same colours as the window's theme
/// (`tuban-app/src/theme.rs`: unreviewed yellow, in progress blue, done green, problem red).
pub fn status_rgb(status: ReviewStatus) -> [u8; 3] {
    match status {
        ReviewStatus::Unreviewed => [255, 214, 10],
        ReviewStatus::InProgress => [64, 156, 255],
        ReviewStatus::Done => [52, 199, 89],
        ReviewStatus::Problem => [255, 69, 58],
    }
}

/// `text` escaped for an XML attribute or text node.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The QML document (QGIS layer style) of the `patches` layer of a project using `template`.
pub fn qml(template: &Template) -> String {
    let fields = template.fields();
    let mut out = String::new();
    out.push_str("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n");
    let _ = writeln!(out, "<qgis version=\"{QGIS_VERSION}\" styleCategories=\"AllStyleCategories\">");
    renderer(&mut out);
    field_configuration(&mut out, fields);
    out.push_str("  <aliases>\n");
    for (name, label) in all_columns(fields) {
        let _ = writeln!(out, "    <alias field=\"{}\" name=\"{}\"/>", escape_xml(&name), escape_xml(&label));
    }
    out.push_str("  </aliases>\n  <editable>\n");
    for (name, _) in all_columns(fields) {
        let editable = fields.iter().find(|f| f.name == name).is_some_and(|f| !f.is_read_only());
        let _ = writeln!(out, "    <field name=\"{}\" editable=\"{}\"/>", escape_xml(&name), u8::from(editable));
    }
    out.push_str("  </editable>\n");
    attribute_table(&mut out, fields);
    form(&mut out, template);
    out.push_str("  <layerGeometryType>2</layerGeometryType>\n</qgis>\n");
    out
}

/// (column, label) of every column: the template's fields in their order, then tuban's own.
fn all_columns(fields: &[Field]) -> Vec<(String, String)> {
    let own = TUBAN_COLUMNS.iter().filter(|(c, _)| *c != "geom").map(|(c, l)| (c.to_string(), l.to_string()));
    fields.iter().map(|f| (f.name.clone(), f.label.clone())).chain(own).collect()
}

/// A categorised renderer on `review_status`: one translucent fill per status, outlined in
/// the status colour.
fn renderer(out: &mut String) {
    out.push_str(
        "  <renderer-v2 type=\"categorizedSymbol\" attr=\"review_status\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">\n    <categories>\n",
    );
    for (i, status) in ReviewStatus::ALL.into_iter().enumerate() {
        let label = format!("{} / {}", status.label(), status.label_en());
        let _ = writeln!(
            out,
            "      <category render=\"true\" symbol=\"{i}\" value=\"{}\" label=\"{}\"/>",
            status.as_str(),
            escape_xml(&label)
        );
    }
    out.push_str("    </categories>\n    <symbols>\n");
    for (i, status) in ReviewStatus::ALL.into_iter().enumerate() {
        let [r, g, b] = status_rgb(status);
        let _ = write!(
            out,
            "      <symbol type=\"fill\" name=\"{i}\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n        <layer class=\"SimpleFill\" enabled=\"1\" locked=\"0\" pass=\"0\">\n"
        );
        for (k, v) in [
            ("color", format!("{r},{g},{b},60")),
            ("style", "solid".into()),
            ("outline_color", format!("{r},{g},{b},255")),
            ("outline_style", "solid".into()),
            ("outline_width", "0.6".into()),
            ("outline_width_unit", "MM".into()),
            ("joinstyle", "bevel".into()),
        ] {
            let _ = writeln!(out, "          <prop k=\"{k}\" v=\"{v}\"/>");
        }
        out.push_str("        </layer>\n      </symbol>\n");
    }
    out.push_str("    </symbols>\n  </renderer-v2>\n");
}

/// Value-map widgets: each code list of the template, and the review status with its labels.
fn field_configuration(out: &mut String, fields: &[Field]) {
    out.push_str("  <fieldConfiguration>\n");
    for f in fields {
        if let FieldKind::Code { codes, multiple: false } = &f.kind {
            let pairs: Vec<(String, String)> = codes.iter().map(|c| (c.display(), c.code.clone())).collect();
            value_map(out, &f.name, &pairs);
        }
    }
    let statuses: Vec<(String, String)> =
        ReviewStatus::ALL.into_iter().map(|s| (s.label().to_string(), s.as_str().to_string())).collect();
    value_map(out, "review_status", &statuses);
    out.push_str("  </fieldConfiguration>\n");
}

/// One `ValueMap` widget: `pairs` are (shown label, stored value).
fn value_map(out: &mut String, column: &str, pairs: &[(String, String)]) {
    let _ = writeln!(
        out,
        "    <field name=\"{}\" configurationFlags=\"None\">\n      <editWidget type=\"ValueMap\">\n        <config>\n          <Option type=\"Map\">\n            <Option name=\"map\" type=\"List\">",
        escape_xml(column)
    );
    for (label, value) in pairs {
        let _ = writeln!(
            out,
            "              <Option type=\"Map\"><Option name=\"{}\" type=\"QString\" value=\"{}\"/></Option>",
            escape_xml(label),
            escape_xml(value)
        );
    }
    out.push_str("            </Option>\n          </Option>\n        </config>\n      </editWidget>\n    </field>\n");
}

/// The attribute table's columns in the template's order, tuban's own columns after them.
fn attribute_table(out: &mut String, fields: &[Field]) {
    out.push_str(
        "  <attributetableconfig actionWidgetStyle=\"dropDown\" sortExpression=\"\" sortOrder=\"0\">\n    <columns>\n",
    );
    for (name, _) in all_columns(fields) {
        let _ =
            writeln!(out, "      <column type=\"field\" name=\"{}\" hidden=\"0\" width=\"-1\"/>", escape_xml(&name));
    }
    out.push_str(
        "      <column type=\"actions\" hidden=\"1\" width=\"-1\"/>\n    </columns>\n  </attributetableconfig>\n",
    );
}

/// A tabbed form: the template's fields in order on the first tab, tuban's columns on the second.
fn form(out: &mut String, template: &Template) {
    out.push_str(
        "  <editform tolerant=\"1\"></editform>\n  <editorlayout>tablayout</editorlayout>\n  <attributeEditorForm>\n",
    );
    let tabs: [(String, Vec<String>); 2] = [
        (template.spec.name.clone(), template.fields().iter().map(|f| f.name.clone()).collect()),
        (
            "核查状态 / review".into(),
            TUBAN_COLUMNS.iter().filter(|(c, _)| *c != "geom").map(|(c, _)| c.to_string()).collect(),
        ),
    ];
    for (title, names) in tabs {
        let _ = writeln!(
            out,
            "    <attributeEditorContainer name=\"{}\" groupBox=\"0\" columnCount=\"1\" showLabel=\"1\" visibilityExpressionEnabled=\"0\">",
            escape_xml(&title)
        );
        for name in names {
            let _ = writeln!(out, "      <attributeEditorField name=\"{}\" showLabel=\"1\"/>", escape_xml(&name));
        }
        out.push_str("    </attributeEditorContainer>\n");
    }
    out.push_str("  </attributeEditorForm>\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn grassland() -> Template {
        Template::builtin("grassland").unwrap()
    }

    #[test]
    fn escapes_quotes_ampersands_and_angle_brackets_but_keeps_chinese() {
        assert_eq!(escape_xml(r#"面积 <"亩"> & 'ha'"#), "面积 &lt;&quot;亩&quot;&gt; &amp; &apos;ha&apos;");
    }

    #[test]
    fn the_grassland_style_has_aliases_value_maps_categories_and_read_only_issued_fields() {
        let t = grassland();
        let qml = qml(&t);
        assert!(qml.contains("<alias field=\"HCJG\" name=\"核查结论\"/>"), "{qml}");
        assert!(qml.contains("<alias field=\"review_status\" name=\"核查状态\"/>"));
        assert!(qml.contains("<Option name=\"违法\" type=\"QString\" value=\"违法\"/>"));
        assert!(qml.contains("value=\"problem\" label=\"有问题 / problem\""));
        assert!(qml.contains("<prop k=\"outline_color\" v=\"255,69,58,255\"/>"));
        let issued = t.fields().iter().find(|f| f.issued).unwrap();
        assert!(qml.contains(&format!("<field name=\"{}\" editable=\"0\"/>", issued.name)));
        assert!(qml.contains("<field name=\"HCJG\" editable=\"1\"/>"));
        // The attribute table lists the template's fields in the template's order.
        let positions: Vec<usize> = t
            .fields()
            .iter()
            .map(|f| qml.find(&format!("<column type=\"field\" name=\"{}\"", f.name)).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_style_is_well_formed_xml() {
        let qml = qml(&grassland());
        // Every opened element is closed, in order (a small check without an XML crate).
        let mut stack = Vec::new();
        for tag in qml.split('<').skip(2).map(|t| t.split('>').next().unwrap_or("")) {
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.to_string()), "{tag}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        assert!(stack.is_empty(), "{stack:?}");
    }
}
