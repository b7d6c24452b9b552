//! Sagas: a sequence of steps across services, each with the step that undoes it.
mod settings;

pub use settings::SagaSettings;
