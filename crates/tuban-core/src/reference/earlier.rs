//! An earlier tuban project as a reference layer (向前追溯): its patches under review with their
//! verdicts, and for a patch whose case was settled the case number and closing date, so a new
//! patch over it is hinted as a possible rebound (反弹).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Loaded, NewLayer, ReferenceError};
use crate::store::{encode_feature, Access, FeatureFeed, NewReference, Project, RefFeature, StoreError};
use tuban_model::ledger::is_settled;
use tuban_model::progress::Progress;
use tuban_model::reference::{ATTR_CASE, ATTR_CASE_CLOSED};

/// Loads `path` as an earlier project when it is a tuban project; `Ok(None)` when it is not.
pub(super) fn load_if_project(
    p: &mut Project,
    path: &Path,
    name: &str,
    layer: &NewLayer,
    progress: &Progress,
) -> Result<Option<Loaded>, ReferenceError> {
    let is_gpkg = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("gpkg"));
    if !is_gpkg || !path.exists() {
        return Ok(None);
    }
    let earlier = match Project::open(path, Access::ReadOnly) {
        Ok(e) => e,
        Err(StoreError::NotAProject { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let features = features_of(&earlier)?;
    let meta = NewReference {
        name: name.to_string(),
        kind: layer.kind,
        label: if layer.label.is_empty() { format!("{} 年核查", earlier.meta().year) } else { layer.label.clone() },
        dated: layer.dated,
        class_fields: vec![earlier.template().roles().verdict.clone()],
        label_field: Some(earlier.template().roles().id.clone()),
        path: path.to_path_buf(),
        layer: Some("patches".into()),
        encoding: "UTF-8".into(),
        crs: "China Geodetic Coordinate System 2000 (EPSG:4490)".into(),
    };
    progress.stage(&format!("读取往年项目 / reading {name}"), features.len() as u64);
    let n = features.len();
    let feed = features
        .into_iter()
        .filter_map(|f| encode_feature(&f).map(|e| FeatureFeed::Feature(f, e)))
        .chain([FeatureFeed::End { repaired: 0, skipped: 0 }]);
    match p.add_reference(&meta, feed, progress, |_, _| {}) {
        Ok(Some(layer)) => Ok(Some(Loaded { layer, skipped_reasons: Vec::new(), fields: Vec::new() })),
        Ok(None) if progress.is_cancelled() => Err(ReferenceError::Cancelled),
        Ok(None) => {
            Err(ReferenceError::Empty { path: path.display().to_string(), reasons: format!("{n} 个图斑 / patches") })
        }
        Err(StoreError::Cancelled) => Err(ReferenceError::Cancelled),
        Err(e) => Err(e.into()),
    }
}

/// The earlier project's patches as features: class = verdict (or 未核查), label = patch key.
fn features_of(earlier: &Project) -> Result<Vec<RefFeature>, StoreError> {
    let extents: BTreeMap<i64, geo::Geometry> = earlier.current_extents()?.into_iter().collect();
    let mut cases = BTreeMap::new();
    for c in earlier.cases()? {
        for fid in &c.patch_fids {
            cases.insert(*fid, c.clone());
        }
    }
    let template = earlier.template();
    let verdict = template.roles().verdict.clone();
    let mut out = Vec::new();
    for r in earlier.patches()? {
        let Some(geom) = extents.get(&r.fid).cloned() else { continue };
        let class = r
            .value(template, &verdict)
            .map(|v| v.to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "未核查".into());
        let mut attrs = BTreeMap::new();
        attrs.insert("图斑编号".to_string(), r.key.clone());
        attrs.insert("核查结论".to_string(), class.clone());
        if let Some(c) = cases.get(&r.fid) {
            attrs.insert(ATTR_CASE.to_string(), c.number.clone());
            if is_settled(c.step, c.rectification) {
                let closed = c.closed_on.map(|d| d.to_string()).unwrap_or_else(|| c.rectification.label().to_string());
                attrs.insert(ATTR_CASE_CLOSED.to_string(), closed);
            }
        }
        out.push(RefFeature { class, label: Some(r.key.clone()), attrs, geom });
    }
    Ok(out)
}
