//! The BootInfo frame the kernel hands the root task (`seL4_BootInfo`).

use crate::{CPtr, Word, MAX_NUM_BOOTINFO_UNTYPED_CAPS};
use core::ops::Range;

/// A range of slots in the root CNode (`seL4_SlotRegion`).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct SlotRegion {
    /// First slot of the region.
    pub start: CPtr,
    /// First slot after the region.
    pub end: CPtr,
}

impl SlotRegion {
    /// The slots as a range.
    pub fn range(&self) -> Range<CPtr> {
        self.start..self.end
    }
}

/// One untyped capability's description (`seL4_UntypedDesc`).
#[repr(C, packed)]
#[derive(Copy, Clone, Debug)]
pub struct UntypedDesc {
    /// Physical address of the memory.
    pub paddr: Word,
    padding: [u8; 2],
    /// log2 of its size in bytes.
    pub size_bits: u8,
    /// Non-zero for device memory (not for kernel objects).
    pub is_device: u8,
}

/// `seL4_BootInfo`, packed as the kernel writes it.
#[repr(C, packed)]
pub struct BootInfo {
    /// Length of extra bootinfo after this structure.
    pub extra_len: Word,
    /// Node id (0 on a uniprocessor).
    pub node_id: Word,
    /// Number of nodes.
    pub num_nodes: Word,
    /// IOMMU page-table levels (0 without an IOMMU).
    pub num_iopt_levels: Word,
    /// Address of the root task's IPC buffer.
    pub ipc_buffer: Word,
    /// Empty slots of the root CNode.
    pub empty: SlotRegion,
    /// Frames shared between nodes.
    pub shared_frames: SlotRegion,
    /// Frames of the root task's image.
    pub user_image_frames: SlotRegion,
    /// Paging structures of the root task's image.
    pub user_image_paging: SlotRegion,
    /// IOSpace caps.
    pub io_space_caps: SlotRegion,
    /// Frames of the extra bootinfo.
    pub extra_bi_pages: SlotRegion,
    /// log2 of the root CNode's slot count.
    pub init_thread_cnode_size_bits: u8,
    /// Domain of the root task.
    pub init_thread_domain: Word,
    /// x86: TSC frequency in MHz; unused on ARM.
    pub arch_info: Word,
    /// Untyped caps.
    pub untyped: SlotRegion,
    /// Descriptions of the untyped caps, in slot order.
    pub untyped_list: [UntypedDesc; MAX_NUM_BOOTINFO_UNTYPED_CAPS],
}

impl BootInfo {
    /// The BootInfo the kernel passed to the root task at entry.
    ///
    /// # Safety
    /// `ptr` must be the pointer the kernel passed at entry; the frame stays
    /// mapped and unchanged for the life of the root task.
    pub unsafe fn from_ptr(ptr: *const BootInfo) -> &'static BootInfo {
        // SAFETY: as the caller guarantees.
        unsafe { &*ptr }
    }

    /// The untyped caps with their descriptions.
    pub fn untypeds(&self) -> impl Iterator<Item = (CPtr, UntypedDesc)> + '_ {
        // Copies: fields of a packed struct cannot be borrowed.
        let (region, list) = (self.untyped, self.untyped_list);
        region.range().zip(list)
    }
}

/// Layout facts the kernel relies on (seL4 5.0, 64-bit).
const _: () = {
    assert!(core::mem::offset_of!(BootInfo, empty) == 40);
    assert!(core::mem::offset_of!(BootInfo, untyped) == 153);
    assert!(core::mem::offset_of!(BootInfo, untyped_list) == 169);
    assert!(core::mem::size_of::<UntypedDesc>() == 12);
};
