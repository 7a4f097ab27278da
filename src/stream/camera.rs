//! `camera[:SERIAL]` (feature `camera`): USB event cameras through `neuromorphic-drivers`
//! (Prophesee EVK4 / EVK3 HD, CenturyArks, iniVation DVXplorer and DAVIS346). The driver's
//! adapters turn the camera's raw bytes into polarity events; IMU samples, triggers and APS
//! frames are ignored. Where USB is not accessible at all (containers without `/dev/bus/usb`),
//! listing fails inside libusb: that is reported as "no camera", never as a crash.

use std::time::Duration;

use neuromorphic_drivers as nd;

use super::StreamError;
use super::source::{Source, Status};
use crate::events::{Event, Resolution};

/// One camera `list` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CameraInfo {
    pub kind: String,
    pub serial: Option<String>,
    pub connection: String,
}

/// The cameras that are plugged in; `Err` says why none can be listed (no USB access).
pub fn list() -> Result<Vec<CameraInfo>, String> {
    let devices = nd::list_devices().map_err(|e| format!("USB is not accessible ({e})"))?;
    Ok(devices
        .into_iter()
        .map(|d| CameraInfo { kind: d.device_type.name().to_string(), serial: d.serial.ok(), connection: format!("{:?}", d.connection) })
        .collect())
}

pub struct CameraSource {
    device: nd::Device,
    adapter: nd::Adapter,
    flag: nd::Flag<nd::Error, nd::UsbOverflow>,
    resolution: Resolution,
    name: String,
    overflows: u64,
}

impl CameraSource {
    /// Opens the camera with `serial`, or the first one found.
    pub fn open(serial: Option<&str>) -> Result<Self, StreamError> {
        let err = |what: &str, e: &dyn std::fmt::Display| StreamError::Camera(format!("{what}: {e}"));
        let cameras = list().map_err(|e| StreamError::Camera(format!("no camera: {e}")))?;
        if cameras.is_empty() {
            return Err(StreamError::Camera("no camera found (spikestream devices --cameras lists them; check the udev rules)".into()));
        }
        let (flag, event_loop) = nd::flag_and_event_loop().map_err(|e| err("USB", &e))?;
        let identifier = match serial {
            Some(s) => nd::Identifier::Serial(s),
            None => nd::Identifier::None,
        };
        let device = nd::open(identifier, None, None, event_loop, flag.clone()).map_err(|e| err("cannot open the camera", &e))?;
        let adapter = device.create_adapter();
        let resolution = sensor_size(&device).ok_or_else(|| StreamError::Camera(format!("{}: unknown sensor size", device.name())))?;
        let name = format!("camera:{} {}", device.name(), device.serial());
        Ok(Self { device, adapter, flag, resolution, name, overflows: 0 })
    }
}

/// The sensor size from the device's properties (every device type has `width` and `height`).
fn sensor_size(device: &nd::Device) -> Option<Resolution> {
    let v = serde_json::to_value(device.properties()).ok()?;
    let props = v.as_object()?.values().next()?;
    let dim = |k: &str| props.get(k).and_then(serde_json::Value::as_u64).and_then(|d| u16::try_from(d).ok());
    Some(Resolution::new(dim("width")?, dim("height")?))
}

fn polarity_event(e: nd::types::PolarityEvent<u64, u16, u16>) -> Event {
    Event::new(e.t, e.x, e.y, matches!(e.polarity, nd::types::Polarity::On))
}

impl Source for CameraSource {
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError> {
        self.flag.load_error().map_err(|e| StreamError::Camera(format!("{}: {e}", self.name)))?;
        if self.flag.load_warning().is_some() {
            self.overflows += 1;
        }
        let Some(view) = self.device.next_with_timeout(&timeout) else { return Ok(Status::Idle) };
        let push = |e| out.push(polarity_event(e));
        match &mut self.adapter {
            nd::Adapter::Evt3(a) => a.convert(view.slice, push, |_| {}),
            nd::Adapter::Dvxplorer(a) => a.convert(view.slice, push, |_| {}, |_| {}),
            nd::Adapter::Davis346(a) => a.convert(view.slice, push, |_| {}, |_| {}, |_| {}),
        }
        Ok(Status::Data)
    }

    fn resolution(&self) -> Option<Resolution> {
        Some(self.resolution)
    }

    fn clock_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
