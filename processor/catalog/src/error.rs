//! The crate's one error type.

use thiserror::Error;

/// Why the catalog data could not be loaded. The embedded catalog is checked by the
/// crate's tests, so in a released build these only come from [`crate::Catalog::parse`]
/// on other text; retrying cannot help.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// A line of the catalog text is malformed.
    #[error("catalog line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
    /// An ARN template could not be compiled.
    #[error("ARN template `{template}`: {reason}")]
    Template {
        /// The template as written.
        template: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The text declares a format version this code does not read.
    #[error("catalog format version {found} is not supported (expected {expected})")]
    Version {
        /// Version found in the text.
        found: String,
        /// Version this code reads.
        expected: u32,
    },
}
