//! The AEDAT4 IOHeader (`IOHE` flatbuffer: compression, data table position, info XML) and the
//! stream descriptions in its `infoNode` XML.

use super::compression::Compression;
use super::flatbuf::{Builder, FbError, Table};
use crate::events::Resolution;

/// One stream announced in the info XML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub id: i32,
    /// Four-letter type identifier: `EVTS`, `FRME`, `IMUS`, `TRIG`, …
    pub type_identifier: String,
    pub name: String,
    pub source: Option<String>,
    pub resolution: Option<Resolution>,
}

#[derive(Clone, Debug)]
pub struct IoHeader {
    pub compression: Compression,
    /// Byte offset of the FileDataTable, `None` when absent (streams, crashed recordings).
    pub data_table_position: Option<u64>,
    pub info_xml: String,
    pub streams: Vec<StreamInfo>,
}

impl IoHeader {
    pub fn parse(buf: &[u8]) -> Result<Self, String> {
        let fb = |e: FbError| format!("IOHeader: {e}");
        let table = Table::root(buf, b"IOHE").map_err(fb)?;
        let code = table.i32(0, 0).map_err(fb)?;
        let compression = Compression::from_code(code).ok_or_else(|| format!("IOHeader: unknown compression {code}"))?;
        let position = table.i64(1, -1).map_err(fb)?;
        let info_xml = table.string(2).map_err(fb)?.unwrap_or_default().to_string();
        let streams = parse_streams(&info_xml)?;
        Ok(Self { compression, data_table_position: u64::try_from(position).ok(), info_xml, streams })
    }

    /// The IOHeader flatbuffer (without the u32 length that precedes it in files and streams).
    /// The data table position sits at a fixed offset, [`IoHeader::POSITION_OFFSET`], so a
    /// writer can patch it after the last packet.
    pub fn build(compression: Compression, data_table_position: i64, info_xml: &str) -> Vec<u8> {
        let mut b = Builder::default();
        b.u32(24).raw(b"IOHE"); // root table at 24
        b.u16(10).u16(20).u16(4).u16(8).u16(16); // vtable at 8: 3 fields
        b.align(8).align(24);
        b.i32(24 - 8).i32(compression.code()).i64(data_table_position).u32(4); // table at 24
        b.u32(info_xml.len() as u32).raw(info_xml.as_bytes()).raw(&[0]).align(4);
        b.bytes
    }

    pub const POSITION_OFFSET: usize = 32;
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, key: &str) -> Option<&'a str> {
    node.children().find(|c| c.has_tag_name("attr") && c.attribute("key") == Some(key)).and_then(|c| c.text()).map(str::trim)
}

/// The deepest element nesting accepted in the info XML. DV writes 4 levels; roxmltree parses
/// elements recursively, so 20,000 levels overflowed the stack (4,000 on a stream's thread).
pub const MAX_XML_DEPTH: usize = 64;

/// The element nesting depth of `xml`, counted without recursion and stopping at `limit + 1`.
/// It over-counts rather than under-counts: tags inside comments, CDATA or processing
/// instructions are skipped, and a `>` inside a quoted attribute value does not end a tag.
fn xml_depth(xml: &[u8], limit: usize) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let skip_to = |from: usize, end: &[u8]| xml[from..].windows(end.len()).position(|w| w == end).map_or(xml.len(), |p| from + p + end.len());
    while i < xml.len() && deepest <= limit {
        if xml[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &xml[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, b"?>");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, b">");
        } else {
            // An opening tag: find its end outside quoted values; `/>` closes it at once.
            let (mut j, mut quote) = (i + 1, None);
            while j < xml.len() {
                match (quote, xml[j]) {
                    (None, b'"' | b'\'') => quote = Some(xml[j]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            let self_closing = j > i + 1 && xml.get(j - 1) == Some(&b'/');
            if !rest.starts_with(b"<!") && !self_closing {
                depth += 1;
                deepest = deepest.max(depth);
            }
            i = j + 1;
        }
    }
    deepest
}

fn parse_streams(xml: &str) -> Result<Vec<StreamInfo>, String> {
    if xml.trim().is_empty() {
        return Ok(Vec::new());
    }
    if xml_depth(xml.as_bytes(), MAX_XML_DEPTH) > MAX_XML_DEPTH {
        return Err(format!("IOHeader info XML: elements nested more than {MAX_XML_DEPTH} deep"));
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("IOHeader info XML: {e}"))?;
    let Some(out_info) = doc.descendants().find(|n| n.has_tag_name("node") && n.attribute("name") == Some("outInfo")) else {
        return Ok(Vec::new());
    };
    let mut streams = Vec::new();
    for node in out_info.children().filter(|n| n.has_tag_name("node")) {
        let Some(id) = node.attribute("name").and_then(|n| n.parse::<i32>().ok()) else { continue };
        let info = node.children().find(|n| n.has_tag_name("node") && n.attribute("name") == Some("info"));
        let dim = |k| info.and_then(|i| attr(i, k)).and_then(|v| v.parse::<u16>().ok()).filter(|&v| v > 0);
        streams.push(StreamInfo {
            id,
            type_identifier: attr(node, "typeIdentifier").unwrap_or_default().to_string(),
            name: attr(node, "originalOutputName").unwrap_or_default().to_string(),
            source: info.and_then(|i| attr(i, "source")).map(str::to_string),
            resolution: dim("sizeX").zip(dim("sizeY")).map(|(width, height)| Resolution { width, height }),
        });
    }
    Ok(streams)
}

/// The info XML DV writes for an event stream and, when `trigger_stream` is given, a trigger stream (as
/// DV's DAVIS recordings have).
pub fn streams_xml(stream_id: i32, trigger_stream: Option<i32>, compression: Compression, resolution: Resolution, source: &str) -> String {
    let source = source.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    let triggers = trigger_stream.map_or(String::new(), |id| {
        format!(
            r#"
        <node name="{id}" path="/outInfo/{id}/">
            <attr key="compression" type="string">{compression}</attr>
            <attr key="originalModuleName" type="string">spikestream</attr>
            <attr key="originalOutputName" type="string">triggers</attr>
            <attr key="typeDescription" type="string">Array of triggers.</attr>
            <attr key="typeIdentifier" type="string">TRIG</attr>
            <node name="info" path="/outInfo/{id}/info/">
                <attr key="source" type="string">{source}</attr>
            </node>
        </node>"#,
            compression = compression.name(),
        )
    });
    format!(
        r#"<dv version="2.0">
    <node name="outInfo" path="/outInfo/">
        <node name="{stream_id}" path="/outInfo/{stream_id}/">
            <attr key="compression" type="string">{compression}</attr>
            <attr key="originalModuleName" type="string">spikestream</attr>
            <attr key="originalOutputName" type="string">events</attr>
            <attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>
            <attr key="typeIdentifier" type="string">EVTS</attr>
            <node name="info" path="/outInfo/{stream_id}/info/">
                <attr key="sizeX" type="int">{w}</attr>
                <attr key="sizeY" type="int">{h}</attr>
                <attr key="source" type="string">{source}</attr>
            </node>
        </node>{triggers}
    </node>
</dv>
"#,
        compression = compression.name(),
        w = resolution.width,
        h = resolution.height,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ioheader_parses_back() {
        let xml = streams_xml(0, None, Compression::Lz4, Resolution::new(346, 260), "test<&>");
        let mut fb = IoHeader::build(Compression::Lz4, -1, &xml);
        let h = IoHeader::parse(&fb).unwrap();
        assert_eq!(h.compression, Compression::Lz4);
        assert_eq!(h.data_table_position, None);
        assert_eq!(h.streams.len(), 1);
        assert_eq!(h.streams[0].resolution, Some(Resolution::new(346, 260)));
        assert_eq!(h.streams[0].source.as_deref(), Some("test<&>"));
        fb[IoHeader::POSITION_OFFSET..IoHeader::POSITION_OFFSET + 8].copy_from_slice(&12345i64.to_le_bytes());
        assert_eq!(IoHeader::parse(&fb).unwrap().data_table_position, Some(12345));
    }

    #[test]
    fn xml_nested_20000_deep_is_refused_without_recursion() {
        let deep = format!("{}{}", "<a>".repeat(20_000), "</a>".repeat(20_000));
        let err = IoHeader::parse(&IoHeader::build(Compression::None, -1, &deep)).unwrap_err();
        assert!(err.contains("nested more than 64 deep"), "{err}");
        // Self-closing tags, comments and quoted '>' do not count as nesting.
        let flat = format!("<dv a=\"x>y\">{}<!-- <b><b><b> --></dv>", "<attr/>".repeat(10_000));
        assert_eq!(xml_depth(flat.as_bytes(), MAX_XML_DEPTH), 1);
        let xml = streams_xml(0, Some(1), Compression::Zstd, Resolution::new(64, 48), "cam");
        assert_eq!(xml_depth(xml.as_bytes(), MAX_XML_DEPTH), 5);
    }

    #[test]
    fn trigger_stream_is_announced() {
        let xml = streams_xml(0, Some(1), Compression::Zstd, Resolution::new(64, 48), "cam");
        let h = IoHeader::parse(&IoHeader::build(Compression::Zstd, -1, &xml)).unwrap();
        let kinds: Vec<_> = h.streams.iter().map(|s| (s.id, s.type_identifier.as_str(), s.name.as_str())).collect();
        assert_eq!(kinds, [(0, "EVTS", "events"), (1, "TRIG", "triggers")]);
    }
}
