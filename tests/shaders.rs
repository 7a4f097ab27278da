//! Every WGSL kernel as the engine builds it (the neuron functions generated from
//! `src/model/neuron/`), checked by naga without any GPU: it parses, validates with no device
//! capabilities, and binds as the pipelines and burn's custom ops expect.

use spikestream::engine::gpu::Kernel;

/// Every kernel parses and validates with naga using exactly the capabilities the engine asks
/// of the device (none), has entry point `main`, and uses every binding it declares (the
/// pipelines use wgpu's automatic layout, which drops unused bindings).
#[test]
fn every_shader_validates_with_naga() {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    for kernel in Kernel::ALL {
        let src = &kernel.source();
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(src)));
        let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(src)));
        let (index, ep) = module.entry_points.iter().enumerate().find(|(_, e)| e.name == Kernel::ENTRY).unwrap_or_else(|| panic!("{}: no entry point main", kernel.name()));
        assert_eq!(ep.stage, naga::ShaderStage::Compute, "{}", kernel.name());
        let uses = info.get_entry_point(index);
        let mut bindings: Vec<u32> = Vec::new();
        for (handle, var) in module.global_variables.iter() {
            if let Some(b) = &var.binding {
                assert!(!uses[handle].is_empty(), "{}: binding {} ({:?}) is unused", kernel.name(), b.binding, var.name);
                assert_eq!(b.group, 0, "{}: only @group(0)", kernel.name());
                bindings.push(b.binding);
            }
        }
        bindings.sort_unstable();
        assert_eq!(bindings, (0..bindings.len() as u32).collect::<Vec<_>>(), "{}: bindings 0..n", kernel.name());
    }
}

/// The neuron kernel is launched by burn too: only read_write storage, no uniforms.
#[test]
fn neuron_shader_follows_burns_template_rules() {
    let module = naga::front::wgsl::parse_str(&Kernel::Neuron.source()).expect("parses");
    for (_, var) in module.global_variables.iter().filter(|(_, v)| v.binding.is_some()) {
        match var.space {
            naga::AddressSpace::Storage { access } => {
                assert!(access.contains(naga::StorageAccess::LOAD | naga::StorageAccess::STORE), "{:?} must be read_write", var.name)
            }
            other => panic!("{:?} is {other:?}; burn passes only storage buffers", var.name),
        }
    }
    assert!(!Kernel::Neuron.source().contains("override "), "burn does not set override constants");
}
