//! `tcp://HOST:PORT`, `unix:///PATH`: the DV network stream through [`DvClient`], with
//! reconnection. A connection lost mid-packet keeps every event of the packets that arrived
//! whole; with a [`Backoff`] the source reconnects (waiting from `first`, doubling up to `max`)
//! and the stream goes on with a fresh decoder, else the stream fails with the decode error
//! (a clean close at a packet boundary just ends it).

use std::time::{Duration, Instant};

use super::StreamError;
use super::source::{Backoff, Source, Status};
use crate::events::io::socket::{DvAddress, DvClient, Poll};
use crate::events::{Event, Resolution};

pub struct DvSource {
    address: DvAddress,
    client: Option<DvClient>,
    reconnect: Option<Backoff>,
    /// When the next connection attempt may happen, and the wait after it fails.
    next_try: Instant,
    delay: Duration,
    /// The sensor of the first connection; later ones must agree.
    resolution: Option<Resolution>,
    connected_once: bool,
    ended: bool,
}

impl DvSource {
    pub fn new(address: DvAddress, reconnect: Option<Backoff>) -> Self {
        let delay = reconnect.map_or(Duration::ZERO, |b| b.first);
        Self { address, client: None, reconnect, next_try: Instant::now(), delay, resolution: None, connected_once: false, ended: false }
    }

    /// Drops the connection; with reconnection, schedules the next attempt.
    fn lose(&mut self, reason: String, error: bool) -> Status {
        self.client = None;
        match self.reconnect {
            Some(backoff) => {
                let wait = self.delay;
                self.next_try = Instant::now() + wait;
                self.delay = (self.delay * 2).min(backoff.max);
                Status::Lost { reason: format!("{reason}; reconnecting in {} ms", wait.as_millis()), retrying: true, error }
            }
            None => {
                self.ended = true;
                Status::Lost { reason, retrying: false, error }
            }
        }
    }
}

impl Source for DvSource {
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError> {
        if self.ended {
            return Ok(Status::Ended);
        }
        if self.client.is_none() {
            let now = Instant::now();
            if now < self.next_try {
                std::thread::sleep((self.next_try - now).min(timeout));
                return Ok(Status::Idle);
            }
            match DvClient::connect(&self.address, timeout) {
                Ok(client) => {
                    self.client = Some(client);
                    self.delay = self.reconnect.map_or(Duration::ZERO, |b| b.first);
                    let again = self.connected_once;
                    self.connected_once = true;
                    let message = format!("{} {}", if again { "reconnected to" } else { "connected to" }, self.address);
                    return Ok(Status::Connected { message, again });
                }
                // Without --reconnect a server that is not there is an error, not an empty stream.
                Err(e) if self.reconnect.is_none() => return Err(e.into()),
                Err(e) => return Ok(self.lose(format!("cannot connect: {e}"), false)),
            }
        }
        let client = self.client.as_mut().expect("connected above");
        let polled = client.poll(out);
        // The header may have arrived in the same read as a corrupt packet: keep its sensor.
        if let Some(now) = client.resolution() {
            match self.resolution {
                None => self.resolution = Some(now),
                Some(before) if before != now => return Err(StreamError::SensorChanged { before, after: now }),
                Some(_) => {}
            }
        }
        match polled {
            Ok(Poll::Data { .. }) => Ok(Status::Data),
            Ok(Poll::Idle) => Ok(Status::Idle),
            Ok(Poll::Closed) => Ok(self.lose(format!("{} closed the connection", self.address), false)),
            // Without --reconnect a corrupt stream or a cut mid-packet is the stream's error
            // (the events of the packets that arrived whole were appended).
            Err(e) if self.reconnect.is_none() => {
                self.client = None;
                self.ended = true;
                Err(e.into())
            }
            Err(e) => Ok(self.lose(format!("connection lost: {e}"), true)),
        }
    }

    fn resolution(&self) -> Option<Resolution> {
        self.resolution
    }

    fn clock_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn describe(&self) -> String {
        self.address.to_string()
    }
}
