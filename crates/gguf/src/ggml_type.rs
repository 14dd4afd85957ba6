//! ggml's tensor types, as a GGUF file numbers them.

/// A tensor's storage type: ggml's `enum ggml_type` number, which this reader knows.
///
/// A tensor of `e` elements of a type with blocks of `b` values in `s` bytes takes
/// `e / b · s` bytes; `e` along the first dimension must be a multiple of `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType {
    id: u32,
    name: &'static str,
    block_values: u32,
    block_bytes: u32,
}

/// `(id, name, values per block, bytes per block)`, from ggml's `type_traits` table.
const TYPES: &[(u32, &str, u32, u32)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    pub const F32: GgmlType = GgmlType::known(0);
    pub const F16: GgmlType = GgmlType::known(1);
    pub const Q8_0: GgmlType = GgmlType::known(8);
    pub const BF16: GgmlType = GgmlType::known(30);

    /// The type numbered `id`, if ggml has one.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPES
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_values, block_bytes)| GgmlType {
                id,
                name,
                block_values,
                block_bytes,
            })
    }

    /// The type named `name` (`"Q4_K"`), as ggml spells it.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPES
            .iter()
            .find(|t| t.1 == name)
            .and_then(|t| GgmlType::from_id(t.0))
    }

    const fn known(id: u32) -> GgmlType {
        let mut i = 0;
        while TYPES[i].0 != id {
            i += 1;
        }
        let (id, name, block_values, block_bytes) = TYPES[i];
        GgmlType {
            id,
            name,
            block_values,
            block_bytes,
        }
    }

    /// ggml's number for the type.
    pub fn id(self) -> u32 {
        self.id
    }

    /// ggml's name for the type (`"Q4_K"`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Values per block (1 for the plain number types).
    pub fn block_values(self) -> u64 {
        u64::from(self.block_values)
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        u64::from(self.block_bytes)
    }

    /// Bytes that `elements` values take, if they fill whole blocks.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        if !elements.is_multiple_of(self.block_values()) {
            return None;
        }
        (elements / self.block_values()).checked_mul(self.block_bytes())
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_round_trip() {
        for &(id, name, ..) in TYPES {
            assert_eq!(GgmlType::from_id(id).map(GgmlType::name), Some(name));
            assert_eq!(GgmlType::from_name(name).map(GgmlType::id), Some(id));
        }
        assert_eq!(GgmlType::from_id(4), None, "Q4_2 was removed from ggml");
        assert_eq!(GgmlType::Q8_0.name(), "Q8_0");
    }

    #[test]
    fn sizes_need_whole_blocks() {
        let q4k = GgmlType::from_name("Q4_K").unwrap_or(GgmlType::F32);
        assert_eq!(q4k.bytes_for(512), Some(288));
        assert_eq!(q4k.bytes_for(100), None);
        assert_eq!(
            GgmlType::F32.bytes_for(u64::MAX),
            None,
            "overflow is no size"
        );
    }
}
