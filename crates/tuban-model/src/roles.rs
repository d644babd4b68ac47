//! Template roles: which field plays which part in the workflow (the patch id, the verdict, the
//! township, the illegal area the ledger sums, the party a case takes …), so no rule reads a field
//! by a fixed name.

use serde::{Deserialize, Serialize};

use crate::field::{Field, FieldKind};

/// Fields with a fixed meaning in the workflow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    /// Patch identifier (图斑编号).
    pub id: String,
    /// Sub-patch identifier (细斑号).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<String>,
    /// Verdict (核查结论).
    pub verdict: String,
    /// Township name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub township: Option<String>,
    /// Village name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub village: Option<String>,
    /// Date of the before imagery (前时相).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_date: Option<String>,
    /// Date of the after imagery (后时相).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_date: Option<String>,
    /// Verdict values that mean an illegal case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub illegal_verdicts: Vec<String>,
    /// Illegal area (违法面积): a number with a unit; the ledger sums it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illegal_area: Option<String>,
    /// Suspected crime (涉嫌刑事): a yes/no field the ledger sets on delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criminal_flag: Option<String>,
    /// Party (当事人 / 用地单位): becomes the party of a new case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// Address (地址) of a clue added by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Free note (备注): holds a clue's address when the template has no address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Clue source (线索来源: 遥感, 绿盾, 信访 …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clue_source: Option<String>,
    /// Verified change reason (核实变化原因): a report table counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_reason: Option<String>,
    /// Land class before (前地类).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_before: Option<String>,
    /// Land class now (现地类).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_after: Option<String>,
    /// Verified area (核实面积): computed from the verified extent on the ellipsoid unless the
    /// analyst types another value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_area: Option<String>,
}

/// The field names that played the optional roles before templates named them: a template
/// stored by an earlier tuban gets these roles when it has a field of the name.
/// A role's slot in [`Roles`].
type RoleSlot = fn(&mut Roles) -> &mut Option<String>;

const CONVENTIONAL_ROLES: [(RoleSlot, &str); 10] = [
    (|r| &mut r.illegal_area, "WFMJ"),
    (|r| &mut r.criminal_flag, "SFSX"),
    (|r| &mut r.party, "DSR"),
    (|r| &mut r.address, "DZ"),
    (|r| &mut r.note, "BZ"),
    (|r| &mut r.clue_source, "XSLY"),
    (|r| &mut r.change_reason, "HSBHYY"),
    (|r| &mut r.land_before, "QDL"),
    (|r| &mut r.land_after, "XDL"),
    (|r| &mut r.verified_area, "HSMJ"),
];

impl Roles {
    /// Fills each optional role left empty with its conventional field name, when the template
    /// has that field (see [`CONVENTIONAL_ROLES`]).
    fn fill_conventional(&mut self, has: impl Fn(&str) -> bool) {
        for (role, name) in CONVENTIONAL_ROLES {
            let slot = role(self);
            if slot.is_none() && has(name) {
                *slot = Some(name.to_string());
            }
        }
    }
}

/// A role that names a missing field or one of the wrong kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleError {
    /// `roles.<what>` names a field the template does not have.
    Unknown {
        /// The role, as written (`roles.verdict`).
        what: String,
        /// The field name given.
        name: String,
    },
    /// The field exists but cannot play the role.
    Unfit {
        /// The field.
        name: String,
        /// Why not.
        reason: String,
    },
}

impl Roles {
    /// Every role with the field it names, as written in TOML.
    fn named(&self) -> Vec<(&'static str, Option<&String>)> {
        vec![
            ("roles.id", Some(&self.id)),
            ("roles.verdict", Some(&self.verdict)),
            ("roles.sub_id", self.sub_id.as_ref()),
            ("roles.township", self.township.as_ref()),
            ("roles.village", self.village.as_ref()),
            ("roles.before_date", self.before_date.as_ref()),
            ("roles.after_date", self.after_date.as_ref()),
            ("roles.illegal_area", self.illegal_area.as_ref()),
            ("roles.criminal_flag", self.criminal_flag.as_ref()),
            ("roles.party", self.party.as_ref()),
            ("roles.address", self.address.as_ref()),
            ("roles.note", self.note.as_ref()),
            ("roles.clue_source", self.clue_source.as_ref()),
            ("roles.change_reason", self.change_reason.as_ref()),
            ("roles.land_before", self.land_before.as_ref()),
            ("roles.land_after", self.land_after.as_ref()),
            ("roles.verified_area", self.verified_area.as_ref()),
        ]
    }

    /// Fills the conventional roles, then checks that each role names a field of `fields` that
    /// can play it: the verdict a code list holding every illegal verdict, the criminal flag a
    /// yes/no field, the illegal area a decimal.
    pub fn resolve(&mut self, fields: &[Field]) -> Result<(), RoleError> {
        self.fill_conventional(|n| fields.iter().any(|f| f.name == n));
        let field = |name: &str| fields.iter().find(|f| f.name == name);
        for (what, name) in self.named() {
            if let Some(name) = name.filter(|n| field(n).is_none()) {
                return Err(RoleError::Unknown { what: what.to_string(), name: name.clone() });
            }
        }
        let unfit = |f: &Field, reason: &str| RoleError::Unfit { name: f.name.clone(), reason: reason.to_string() };
        let of = |role: &Option<String>| role.as_deref().and_then(field);
        if let Some(f) = of(&self.criminal_flag).filter(|f| f.kind != FieldKind::Boolean) {
            return Err(unfit(f, "roles.criminal_flag must name a yes/no (boolean) field"));
        }
        if let Some(f) = of(&self.illegal_area).filter(|f| !matches!(f.kind, FieldKind::Decimal { .. })) {
            return Err(unfit(f, "roles.illegal_area must name a decimal field (with a unit)"));
        }
        let is_area =
            |f: &Field| matches!(&f.kind, FieldKind::Decimal { unit: Some(u), .. } if u.m2_factor().is_some());
        if let Some(f) = of(&self.verified_area).filter(|f| !is_area(f)) {
            return Err(unfit(f, "roles.verified_area must name a decimal field with an area unit (m2, mu or ha)"));
        }
        if let Some(verdict) = field(&self.verdict) {
            let codes = verdict.codes();
            if codes.is_empty() {
                return Err(unfit(verdict, "the verdict field must be a code list"));
            }
            if let Some(v) = self.illegal_verdicts.iter().find(|v| !codes.iter().any(|c| &c.code == *v)) {
                return Err(unfit(
                    verdict,
                    &format!("roles.illegal_verdicts names “{v}”, which is not in its code list"),
                ));
            }
        }
        Ok(())
    }
}
