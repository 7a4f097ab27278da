//! Prophesee formats: RAW EVT 2.0 and EVT 3.0 (Metavision cameras, OpenEB semantics) and DAT
//! (Gen1 automotive, 1Mpx, N-CARS). All start with `%` header lines (or none, for old DAT).

mod dat;
mod evt2;
mod evt3;
mod header;

pub use dat::DatDecoder;
pub use evt2::Evt2Decoder;
pub use evt3::Evt3Decoder;
pub use header::PropheseeHeader;
