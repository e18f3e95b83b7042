//! FNV-1a 64, the hash the library documents for sticky sampling and sticky routing,
//! written out here so the tests check the documented hash, not the crate's.

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
