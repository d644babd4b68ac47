//! Plain data of the review: templates (fields, code lists, rules), field values, validation and
//! area units. No I/O here: the store reads and writes these, the import fills them.

pub mod expr;
pub mod random;
pub mod template;
pub mod units;
pub mod validate;
pub mod value;

pub use template::{Field, FieldKind, Programme, Severity, Template, TemplateError};
pub use validate::{Problem, ReviewStatus};
pub use value::Value;
