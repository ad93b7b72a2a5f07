//! Looking inside models: concentration of measure (how far apart points in many dims
//! really are), PCA of activations, and the model-independent vocabulary of looking inside
//! a model: a typed activation cache and interventions (steering vectors, ablation), which
//! the models of the `models` module implement (this module is a floor below them).
//!
//! - [`concentration`]: [`distance_stats`] (the max/min pairwise distance ratio),
//!   [`cosine_stats`] (the distribution of pairwise cosines), [`predicted_ratio`];
//! - [`pca`](mod@pca): [`pca_summary`] (explained-variance ratios and 2-D coordinates of a set
//!   of states) and [`separation`] (do labelled groups separate along them);
//! - [`cache`]: [`Selection`] (which sites to record) and [`ActivationCache`] (what was
//!   recorded, typed by the model's dims);
//! - [`steer`]: [`Intervention`] (add a vector from a position onward, replace or ablate
//!   the residual stream at a layer) and the steering directions ([`mean_difference`],
//!   [`top_difference_component`]);
//! - [`ablate`]: [`HeadAblation`] (zero or mean-ablate one attention head's output at a
//!   layer, typed by the model's heads dim).
//!
//! - [`direction`](mod@direction): [`Contrast`] (the mean-difference [`Direction`] between two
//!   sets of activations, its held-out accuracy, and PC1 of the sets pooled beside it);
//!
//! - [`patch`]: [`ResidSite`] (a typed (layer, position) of the residual stream whose clean
//!   value patches another run), [`HeadSite`] (a typed (layer, head) whose clean output
//!   patches another run, a [`HeadPatch`]) and [`restored`] (the fraction of a logit
//!   difference restored);
//!
//! - [`hooks`]: [`Hooks`], the hook points of a layer's forward, one trait for every
//!   model (tensors or traced values, the model's shapes), and [`NoHooks`].
//!
//! The models run these through their own forwards (`MiniLm::run_with_hooks` and
//! `Decoder::run_with_hooks` in `models`), each implementing [`Hooks`] once for its
//! inspected run; a plain forward passes [`NoHooks`], records nothing and pays nothing.
//! This module sits above the layers (`nn`, whose value kinds the hooks are written over)
//! and below the models.

pub mod ablate;
pub mod cache;
pub mod concentration;
pub mod direction;
pub mod hooks;
pub mod patch;
pub mod pca;
pub mod steer;

use core::fmt;

pub use ablate::HeadAblation;
pub use cache::{ActivationCache, Selection, Site};
pub use concentration::{
    cosine_stats, distance_stats, histogram, predicted_ratio, CosineStats, DistanceStats,
};
pub use direction::{Contrast, Direction};
pub use hooks::{Hooks, NoHooks};
pub use patch::{restored, HeadPatch, HeadSite, ResidSite};
pub use pca::{pca_summary, separation, Components, PcaSummary, Separation};
pub use steer::{mean_difference, top_difference_component, Intervention};

use crate::error::{Error, NumericError, ShapeError};

/// Why an inspection could not be computed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InspectError {
    /// Too few points (or groups) for the statistic.
    TooFewPoints {
        /// The function.
        op: &'static str,
        /// How many were given.
        points: usize,
        /// How many it needs.
        needed: usize,
    },
    /// Labels that are not one per point.
    Labels {
        /// The points.
        points: usize,
        /// The labels.
        labels: usize,
    },
    /// A layer, head or position outside the model or the input.
    OutOfRange {
        /// What was out of range (`"layer"`, `"head"`, `"position"`).
        what: &'static str,
        /// The value given.
        index: usize,
        /// The number there are.
        len: usize,
    },
    /// A runtime shape disagreed.
    Shape(ShapeError),
    /// The values admit no answer (a NaN or an infinity into a PCA).
    Numeric(NumericError),
    /// The model could not run on the input (the model's own error, e.g. a `ModelError`
    /// of the `models` module, as the source).
    Model(Box<dyn std::error::Error + Send + Sync>),
    /// Another error of the crate, from an [`Error`] that is none of the above (the linalg
    /// routines that inspection calls fail with shape and numeric errors only).
    Other(Box<Error>),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::TooFewPoints { op, points, needed } => {
                write!(
                    f,
                    "{op} needs at least {needed} points, and was given {points}"
                )
            }
            InspectError::Labels { points, labels } => write!(
                f,
                "{points} points but {labels} labels: give one label per point"
            ),
            InspectError::OutOfRange { what, index, len } => {
                write!(f, "{what} {index} is out of range: there are {len}")
            }
            InspectError::Shape(e) => e.fmt(f),
            InspectError::Numeric(e) => e.fmt(f),
            InspectError::Model(e) => e.fmt(f),
            InspectError::Other(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InspectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Display is the inner error's message: the chain goes on with its source.
            InspectError::Shape(e) => e.source(),
            InspectError::Numeric(e) => e.source(),
            InspectError::Model(e) => e.source(),
            InspectError::Other(e) => e.source(),
            _ => None,
        }
    }
}

impl From<ShapeError> for InspectError {
    fn from(e: ShapeError) -> Self {
        InspectError::Shape(e)
    }
}

impl From<NumericError> for InspectError {
    fn from(e: NumericError) -> Self {
        InspectError::Numeric(e)
    }
}

impl From<Error> for InspectError {
    fn from(e: Error) -> Self {
        match e {
            Error::Shape(e) => InspectError::Shape(e),
            Error::Numeric(e) => InspectError::Numeric(e),
            Error::Model(e) => InspectError::Model(Box::new(e)),
            Error::Inspect(e) => e,
            other => InspectError::Other(Box::new(other)),
        }
    }
}
