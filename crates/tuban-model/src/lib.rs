//! tuban-model: the plain data and rules of the review, with no I/O (no GDAL, no SQLite, no file
//! system): templates (fields, code lists, roles, rules), field values, the condition language,
//! validation and review status, the ledger rules (investigation and rectification states,
//! steps, rates, the criminal threshold, split penalties), area units, geometry math (ellipsoidal
//! area, centre points, GeoPackage blobs), a deterministic generator and progress/cancel.
//! The store reads and writes these values; the import fills them; both front ends show them.

pub mod expr;
pub mod field;
pub mod geometry;
pub mod ledger;
pub mod photo;
pub mod progress;
pub mod random;
pub mod reference;
pub mod reference_rules;
pub mod roles;
pub mod template;
pub mod units;
pub mod validate;
pub mod value;

pub use template::{Field, FieldKind, Programme, Severity, Template, TemplateError};
pub use validate::{Problem, ReviewStatus};
pub use value::Value;
