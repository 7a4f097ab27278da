//! The [`Format`] list (names, aliases, display) and the jAER address layouts: what a recording
//! can be, before anything is decoded.

/// The recorded formats spikestream reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Format {
    /// AEDAT 4.0 file (DV, dv-processing).
    Aedat4,
    /// AEDAT 4.0 network stream (DV TCP / Unix socket; no version line, no data table).
    Aedat4Stream,
    /// AEDAT 3.1 (cAER / libcaer; DVS128 Gesture).
    Aedat31,
    /// AEDAT 1.0 / 2.0 (jAER; CIFAR10-DVS and many DAVIS datasets).
    Aedat2,
    /// Prophesee RAW, EVT 2.0.
    Evt2,
    /// Prophesee RAW, EVT 3.0.
    Evt3,
    /// Prophesee DAT (Gen1, 1Mpx, N-CARS).
    Dat,
    /// Orchard's ATIS `.bin` (N-MNIST, N-Caltech101), 5 bytes per event, no header.
    AtisBin,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Aedat4,
        Format::Aedat4Stream,
        Format::Aedat31,
        Format::Aedat2,
        Format::Evt2,
        Format::Evt3,
        Format::Dat,
        Format::AtisBin,
    ];

    /// Short stable name, used in `--format` and JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Aedat4 => "aedat4",
            Format::Aedat4Stream => "aedat4-stream",
            Format::Aedat31 => "aedat3.1",
            Format::Aedat2 => "aedat2",
            Format::Evt2 => "evt2",
            Format::Evt3 => "evt3",
            Format::Dat => "dat",
            Format::AtisBin => "atis-bin",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let alias = match name.as_str() {
            "aedat" | "aedat2.0" | "jaer" => "aedat2",
            "aedat3" | "aedat31" => "aedat3.1",
            "aedat4.0" | "dv" => "aedat4",
            "nmnist" | "n-mnist" | "ncaltech101" | "bin" => "atis-bin",
            "evt2.0" => "evt2",
            "evt3.0" => "evt3",
            other => other,
        };
        Self::ALL.into_iter().find(|f| f.name() == alias)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Aedat4 => "AEDAT4",
            Format::Aedat4Stream => "AEDAT4 stream",
            Format::Aedat31 => "AEDAT3.1",
            Format::Aedat2 => "AEDAT2",
            Format::Evt2 => "EVT2",
            Format::Evt3 => "EVT3",
            Format::Dat => "DAT",
            Format::AtisBin => "ATIS bin",
        })
    }
}

/// How to read jAER AEDAT 1.0/2.0 addresses when the header does not name the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Aedat2Layout {
    /// DVS128: bit 0 polarity, bits 1–7 x, bits 8–14 y, bit 15 special.
    Dvs128,
    /// DAVIS240/346/640: bit 31 APS/IMU, bit 10 special, bits 12–21 x, 22–30 y, bit 11 polarity.
    Davis,
}
