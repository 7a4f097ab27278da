//! [`Recording`]: a whole decoded input (events, triggers, sensor size, header facts), what
//! [`super::read_file`] returns and a failed read keeps as its partial result.

use super::format::Format;
use super::{Event, Resolution, Trigger};

/// A decoded recording.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub format: Option<Format>,
    pub resolution: Option<Resolution>,
    pub events: Vec<Event>,
    pub triggers: Vec<Trigger>,
    /// Header facts (camera, chip, compression, …) for people.
    pub metadata: Vec<(String, String)>,
}
