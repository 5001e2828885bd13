//! The variable-length code tables of ISO/IEC 13818-2 Annex B, turned into lookup
//! tables at compile time (one table read per code instead of a bit-by-bit walk).

/// A decoded short code: `val` and its length in bits (`len == 0`: not a valid code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub val: i16,
    pub len: u8,
}

const NONE: Entry = Entry { val: 0, len: 0 };

/// Fills a `1 << BITS` lookup table from `(code as '0'/'1' text, value)` pairs.
const fn build<const N: usize>(bits: u32, codes: &[(&str, i16)]) -> [Entry; N] {
    let mut t = [NONE; N];
    let mut i = 0;
    while i < codes.len() {
        let s = codes[i].0.as_bytes();
        let mut code = 0usize;
        let mut len = 0u32;
        let mut k = 0;
        while k < s.len() {
            if s[k] == b'0' || s[k] == b'1' {
                code = code * 2 + (s[k] - b'0') as usize;
                len += 1;
            }
            k += 1;
        }
        let shift = bits - len;
        let first = code << shift;
        let mut j = 0;
        while j < (1usize << shift) {
            t[first + j] = Entry {
                val: codes[i].1,
                len: len as u8,
            };
            j += 1;
        }
        i += 1;
    }
    t
}

/// Value of the macroblock_address_increment escape (adds 33).
pub(crate) const MBA_ESCAPE: i16 = 34;
/// Value of MPEG-1 macroblock stuffing.
pub(crate) const MBA_STUFFING: i16 = 35;

/// A table over 11-bit codes in which every code with a one among its first four bits
/// is at most five bits long (macroblock_address_increment, motion_code): indices
/// below 128 are kept, the others are looked up by their top five bits, whose 64
/// indices hold the same entry. The codes met most often then share 10 cache lines
/// instead of spreading over the 8 KiB of the full table, where two thirds of the
/// motion_code lookups missed the first-level cache (callgrind's cache simulation),
/// each miss on the chain from one code to the next.
pub(crate) struct Compact11([Entry; 158]);

impl Compact11 {
    /// The entry of the code at the top of the 11-bit `v`.
    #[inline(always)]
    pub(crate) fn get(&self, v: u32) -> Entry {
        // `126 + (v >> 6)` for `v >= 128`, `v` below: one minimum (a conditional move),
        // not a branch on how long the code is.
        let v = (v & 0x7ff) as usize;
        self.0[v.min(126 + (v >> 6))]
    }
}

/// [`Compact11`] from a full table; fails to compile if a code with a one among its
/// first four bits is longer than five bits.
const fn compact11(full: &[Entry; 2048]) -> Compact11 {
    let mut t = [NONE; 158];
    let mut v = 0;
    while v < 2048 {
        let i = if v >= 128 { 126 + (v >> 6) } else { v };
        if v >= 128 && v & 63 != 0 {
            let (a, b) = (t[i], full[v]);
            assert!(a.val == b.val && a.len == b.len);
        }
        t[i] = full[v];
        v += 1;
    }
    Compact11(t)
}

/// Table B-1, macroblock_address_increment, compacted (see [`Compact11`]).
pub(crate) static MBA: Compact11 = compact11(&MBA_FULL);

/// Table B-1, macroblock_address_increment, 11-bit index.
const MBA_FULL: [Entry; 2048] = build(
    11,
    &[
        ("1", 1),
        ("011", 2),
        ("010", 3),
        ("0011", 4),
        ("0010", 5),
        ("00011", 6),
        ("00010", 7),
        ("0000111", 8),
        ("0000110", 9),
        ("00001011", 10),
        ("00001010", 11),
        ("00001001", 12),
        ("00001000", 13),
        ("00000111", 14),
        ("00000110", 15),
        ("0000010111", 16),
        ("0000010110", 17),
        ("0000010101", 18),
        ("0000010100", 19),
        ("0000010011", 20),
        ("0000010010", 21),
        ("00000100011", 22),
        ("00000100010", 23),
        ("00000100001", 24),
        ("00000100000", 25),
        ("00000011111", 26),
        ("00000011110", 27),
        ("00000011101", 28),
        ("00000011100", 29),
        ("00000011011", 30),
        ("00000011010", 31),
        ("00000011001", 32),
        ("00000011000", 33),
        ("00000001000", MBA_ESCAPE),
        ("00000001111", MBA_STUFFING),
    ],
);

// macroblock_type flags (Table 6-xx semantics).
pub(crate) const MB_QUANT: i16 = 1;
pub(crate) const MB_FWD: i16 = 2;
pub(crate) const MB_BWD: i16 = 4;
pub(crate) const MB_PATTERN: i16 = 8;
pub(crate) const MB_INTRA: i16 = 16;

/// Table B-2, macroblock_type in I pictures, 2-bit index.
pub(crate) static MB_TYPE_I: [Entry; 4] = build(2, &[("1", MB_INTRA), ("01", MB_INTRA | MB_QUANT)]);

/// Table B-3, macroblock_type in P pictures, 6-bit index.
pub(crate) static MB_TYPE_P: [Entry; 64] = build(
    6,
    &[
        ("1", MB_FWD | MB_PATTERN),
        ("01", MB_PATTERN),
        ("001", MB_FWD),
        ("00011", MB_INTRA),
        ("00010", MB_QUANT | MB_FWD | MB_PATTERN),
        ("00001", MB_QUANT | MB_PATTERN),
        ("000001", MB_QUANT | MB_INTRA),
    ],
);

/// Table B-4, macroblock_type in B pictures, 6-bit index.
pub(crate) static MB_TYPE_B: [Entry; 64] = build(
    6,
    &[
        ("10", MB_FWD | MB_BWD),
        ("11", MB_FWD | MB_BWD | MB_PATTERN),
        ("010", MB_BWD),
        ("011", MB_BWD | MB_PATTERN),
        ("0010", MB_FWD),
        ("0011", MB_FWD | MB_PATTERN),
        ("00011", MB_INTRA),
        ("00010", MB_QUANT | MB_FWD | MB_BWD | MB_PATTERN),
        ("000011", MB_QUANT | MB_FWD | MB_PATTERN),
        ("000010", MB_QUANT | MB_BWD | MB_PATTERN),
        ("000001", MB_QUANT | MB_INTRA),
    ],
);

/// Table B-9, coded_block_pattern, 9-bit index.
pub(crate) static CBP: [Entry; 512] = build(
    9,
    &[
        ("111", 60),
        ("1101", 4),
        ("1100", 8),
        ("1011", 16),
        ("1010", 32),
        ("10011", 12),
        ("10010", 48),
        ("10001", 20),
        ("10000", 40),
        ("01111", 28),
        ("01110", 44),
        ("01101", 52),
        ("01100", 56),
        ("01011", 1),
        ("01010", 61),
        ("01001", 2),
        ("01000", 62),
        ("001111", 24),
        ("001110", 36),
        ("001101", 3),
        ("001100", 63),
        ("0010111", 5),
        ("0010110", 9),
        ("0010101", 17),
        ("0010100", 33),
        ("0010011", 6),
        ("0010010", 10),
        ("0010001", 18),
        ("0010000", 34),
        ("00011111", 7),
        ("00011110", 11),
        ("00011101", 19),
        ("00011100", 35),
        ("00011011", 13),
        ("00011010", 49),
        ("00011001", 21),
        ("00011000", 41),
        ("00010111", 14),
        ("00010110", 50),
        ("00010101", 22),
        ("00010100", 42),
        ("00010011", 15),
        ("00010010", 51),
        ("00010001", 23),
        ("00010000", 43),
        ("00001111", 25),
        ("00001110", 37),
        ("00001101", 26),
        ("00001100", 38),
        ("00001011", 29),
        ("00001010", 45),
        ("00001001", 53),
        ("00001000", 57),
        ("00000111", 30),
        ("00000110", 46),
        ("00000101", 54),
        ("00000100", 58),
        ("000000111", 31),
        ("000000110", 47),
        ("000000101", 55),
        ("000000100", 59),
        ("000000011", 27),
        ("000000010", 39),
        ("000000001", 0),
    ],
);

/// Table B-10, motion_code with its sign bit, compacted (see [`Compact11`]).
pub(crate) static MOTION: Compact11 = compact11(&MOTION_FULL);

/// Table B-10, motion_code with its sign bit, 11-bit index.
const MOTION_FULL: [Entry; 2048] = build(
    11,
    &[
        ("1", 0),
        ("010", 1),
        ("011", -1),
        ("0010", 2),
        ("0011", -2),
        ("00010", 3),
        ("00011", -3),
        ("0000110", 4),
        ("0000111", -4),
        ("00001010", 5),
        ("00001011", -5),
        ("00001000", 6),
        ("00001001", -6),
        ("00000110", 7),
        ("00000111", -7),
        ("0000010110", 8),
        ("0000010111", -8),
        ("0000010100", 9),
        ("0000010101", -9),
        ("0000010010", 10),
        ("0000010011", -10),
        ("00000100010", 11),
        ("00000100011", -11),
        ("00000100000", 12),
        ("00000100001", -12),
        ("00000011110", 13),
        ("00000011111", -13),
        ("00000011100", 14),
        ("00000011101", -14),
        ("00000011010", 15),
        ("00000011011", -15),
        ("00000011000", 16),
        ("00000011001", -16),
    ],
);

/// Table B-11, dmvector, 2-bit index.
pub(crate) static DMV: [Entry; 4] = build(2, &[("0", 0), ("10", 1), ("11", -1)]);

/// Table B-12, dct_dc_size_luminance, 9-bit index.
pub(crate) static DC_LUMA: [Entry; 512] = build(
    9,
    &[
        ("100", 0),
        ("00", 1),
        ("01", 2),
        ("101", 3),
        ("110", 4),
        ("1110", 5),
        ("11110", 6),
        ("111110", 7),
        ("1111110", 8),
        ("11111110", 9),
        ("111111110", 10),
        ("111111111", 11),
    ],
);

/// Table B-13, dct_dc_size_chrominance, 10-bit index.
pub(crate) static DC_CHROMA: [Entry; 1024] = build(
    10,
    &[
        ("00", 0),
        ("01", 1),
        ("10", 2),
        ("110", 3),
        ("1110", 4),
        ("11110", 5),
        ("111110", 6),
        ("1111110", 7),
        ("11111110", 8),
        ("111111110", 9),
        ("1111111110", 10),
        ("1111111111", 11),
    ],
);

/// A DCT coefficient code: run and level (before the sign bit), or an end of block /
/// escape marker; `len == 0` is an invalid code. Every run of 64 or more is a marker
/// ([`RUN_EOB`], [`RUN_ESCAPE`], [`RUN_INVALID`]), so that the decoder tells an ordinary
/// code from all the others with one comparison.
///
/// Four bytes with the padding (`align(4)`), so that a table entry's address is a
/// scaled index rather than a multiplication by three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(4))]
pub(crate) struct Coef {
    pub run: u8,
    pub level: u8,
    pub len: u8,
}

pub(crate) const RUN_EOB: u8 = 64;
pub(crate) const RUN_ESCAPE: u8 = 65;
/// The run of the entries no code reaches (with `len` 0).
pub(crate) const RUN_INVALID: u8 = 66;

/// Two-level lookup of a DCT coefficient table: codes with a one among their first six
/// bits by their first 8 bits, the others (all longer, up to 16 bits) by bits 6..16.
#[derive(Debug)]
pub(crate) struct CoefTable {
    pub short: [Coef; 256],
    pub long: [Coef; 1024],
}

const fn build_coef(codes: &[(&str, u8, u8)]) -> CoefTable {
    let none = Coef {
        run: RUN_INVALID,
        level: 0,
        len: 0,
    };
    let mut t = CoefTable {
        short: [none; 256],
        long: [none; 1024],
    };
    let mut i = 0;
    while i < codes.len() {
        let s = codes[i].0.as_bytes();
        let mut code = 0usize;
        let mut len = 0u32;
        let mut k = 0;
        while k < s.len() {
            if s[k] == b'0' || s[k] == b'1' {
                code = code * 2 + (s[k] - b'0') as usize;
                len += 1;
            }
            k += 1;
        }
        let e = Coef {
            run: codes[i].1,
            level: codes[i].2,
            len: len as u8,
        };
        if len <= 8 {
            let shift = 8 - len;
            let mut j = 0;
            while j < (1usize << shift) {
                t.short[(code << shift) + j] = e;
                j += 1;
            }
        } else {
            // Drop the six leading zeros; index by the next ten bits.
            let shift = 16 - len;
            let mut j = 0;
            while j < (1usize << shift) {
                t.long[(code << shift) + j] = e;
                j += 1;
            }
        }
        i += 1;
    }
    t
}

/// Table B-14, DCT coefficients table zero (codes without the sign bit). The first
/// coefficient of a non-intra block uses `1` for run 0 level 1 instead; the decoder
/// handles that before looking here.
pub(crate) static B14: CoefTable = build_coef(&[
    ("10", RUN_EOB, 0),
    ("11", 0, 1),
    ("011", 1, 1),
    ("0100", 0, 2),
    ("0101", 2, 1),
    ("00101", 0, 3),
    ("00111", 3, 1),
    ("00110", 4, 1),
    ("000110", 1, 2),
    ("000111", 5, 1),
    ("000101", 6, 1),
    ("000100", 7, 1),
    ("0000110", 0, 4),
    ("0000100", 2, 2),
    ("0000111", 8, 1),
    ("0000101", 9, 1),
    ("000001", RUN_ESCAPE, 0),
    ("00100110", 0, 5),
    ("00100001", 0, 6),
    ("00100101", 1, 3),
    ("00100100", 3, 2),
    ("00100111", 10, 1),
    ("00100011", 11, 1),
    ("00100010", 12, 1),
    ("00100000", 13, 1),
    ("0000001010", 0, 7),
    ("0000001100", 1, 4),
    ("0000001011", 2, 3),
    ("0000001111", 4, 2),
    ("0000001001", 5, 2),
    ("0000001110", 14, 1),
    ("0000001101", 15, 1),
    ("0000001000", 16, 1),
    ("000000011101", 0, 8),
    ("000000011000", 0, 9),
    ("000000010011", 0, 10),
    ("000000010000", 0, 11),
    ("000000011011", 1, 5),
    ("000000010100", 2, 4),
    ("000000011100", 3, 3),
    ("000000010010", 4, 3),
    ("000000011110", 6, 2),
    ("000000010101", 7, 2),
    ("000000010001", 8, 2),
    ("000000011111", 17, 1),
    ("000000011010", 18, 1),
    ("000000011001", 19, 1),
    ("000000010111", 20, 1),
    ("000000010110", 21, 1),
    ("0000000011010", 0, 12),
    ("0000000011001", 0, 13),
    ("0000000011000", 0, 14),
    ("0000000010111", 0, 15),
    ("0000000010110", 1, 6),
    ("0000000010101", 1, 7),
    ("0000000010100", 2, 5),
    ("0000000010011", 3, 4),
    ("0000000010010", 5, 3),
    ("0000000010001", 9, 2),
    ("0000000010000", 10, 2),
    ("0000000011111", 22, 1),
    ("0000000011110", 23, 1),
    ("0000000011101", 24, 1),
    ("0000000011100", 25, 1),
    ("0000000011011", 26, 1),
    ("00000000011111", 0, 16),
    ("00000000011110", 0, 17),
    ("00000000011101", 0, 18),
    ("00000000011100", 0, 19),
    ("00000000011011", 0, 20),
    ("00000000011010", 0, 21),
    ("00000000011001", 0, 22),
    ("00000000011000", 0, 23),
    ("00000000010111", 0, 24),
    ("00000000010110", 0, 25),
    ("00000000010101", 0, 26),
    ("00000000010100", 0, 27),
    ("00000000010011", 0, 28),
    ("00000000010010", 0, 29),
    ("00000000010001", 0, 30),
    ("00000000010000", 0, 31),
    ("000000000011000", 0, 32),
    ("000000000010111", 0, 33),
    ("000000000010110", 0, 34),
    ("000000000010101", 0, 35),
    ("000000000010100", 0, 36),
    ("000000000010011", 0, 37),
    ("000000000010010", 0, 38),
    ("000000000010001", 0, 39),
    ("000000000010000", 0, 40),
    ("000000000011111", 1, 8),
    ("000000000011110", 1, 9),
    ("000000000011101", 1, 10),
    ("000000000011100", 1, 11),
    ("000000000011011", 1, 12),
    ("000000000011010", 1, 13),
    ("000000000011001", 1, 14),
    ("0000000000010011", 1, 15),
    ("0000000000010010", 1, 16),
    ("0000000000010001", 1, 17),
    ("0000000000010000", 1, 18),
    ("0000000000010100", 6, 3),
    ("0000000000011010", 11, 2),
    ("0000000000011001", 12, 2),
    ("0000000000011000", 13, 2),
    ("0000000000010111", 14, 2),
    ("0000000000010110", 15, 2),
    ("0000000000010101", 16, 2),
    ("0000000000011111", 27, 1),
    ("0000000000011110", 28, 1),
    ("0000000000011101", 29, 1),
    ("0000000000011100", 30, 1),
    ("0000000000011011", 31, 1),
]);

/// Table B-15, DCT coefficients table one (intra blocks with intra_vlc_format 1).
pub(crate) static B15: CoefTable = build_coef(&[
    ("0110", RUN_EOB, 0),
    ("10", 0, 1),
    ("010", 1, 1),
    ("110", 0, 2),
    ("00101", 2, 1),
    ("0111", 0, 3),
    ("00111", 3, 1),
    ("000110", 4, 1),
    ("00110", 1, 2),
    ("000111", 5, 1),
    ("0000110", 6, 1),
    ("0000100", 7, 1),
    ("11100", 0, 4),
    ("0000111", 2, 2),
    ("0000101", 8, 1),
    ("1111000", 9, 1),
    ("000001", RUN_ESCAPE, 0),
    ("11101", 0, 5),
    ("000101", 0, 6),
    ("1111001", 1, 3),
    ("00100110", 3, 2),
    ("1111010", 10, 1),
    ("00100001", 11, 1),
    ("00100101", 12, 1),
    ("00100100", 13, 1),
    ("000100", 0, 7),
    ("00100111", 1, 4),
    ("11111100", 2, 3),
    ("11111101", 4, 2),
    ("000000100", 5, 2),
    ("000000101", 14, 1),
    ("000000111", 15, 1),
    ("0000001101", 16, 1),
    ("1111011", 0, 8),
    ("1111100", 0, 9),
    ("00100011", 0, 10),
    ("00100010", 0, 11),
    ("00100000", 1, 5),
    ("0000001100", 2, 4),
    ("000000011100", 3, 3),
    ("000000010010", 4, 3),
    ("000000011110", 6, 2),
    ("000000010101", 7, 2),
    ("000000010001", 8, 2),
    ("000000011111", 17, 1),
    ("000000011010", 18, 1),
    ("000000011001", 19, 1),
    ("000000010111", 20, 1),
    ("000000010110", 21, 1),
    ("11111010", 0, 12),
    ("11111011", 0, 13),
    ("11111110", 0, 14),
    ("11111111", 0, 15),
    ("0000000010110", 1, 6),
    ("0000000010101", 1, 7),
    ("0000000010100", 2, 5),
    ("0000000010011", 3, 4),
    ("0000000010010", 5, 3),
    ("0000000010001", 9, 2),
    ("0000000010000", 10, 2),
    ("0000000011111", 22, 1),
    ("0000000011110", 23, 1),
    ("0000000011101", 24, 1),
    ("0000000011100", 25, 1),
    ("0000000011011", 26, 1),
    ("00000000011111", 0, 16),
    ("00000000011110", 0, 17),
    ("00000000011101", 0, 18),
    ("00000000011100", 0, 19),
    ("00000000011011", 0, 20),
    ("00000000011010", 0, 21),
    ("00000000011001", 0, 22),
    ("00000000011000", 0, 23),
    ("00000000010111", 0, 24),
    ("00000000010110", 0, 25),
    ("00000000010101", 0, 26),
    ("00000000010100", 0, 27),
    ("00000000010011", 0, 28),
    ("00000000010010", 0, 29),
    ("00000000010001", 0, 30),
    ("00000000010000", 0, 31),
    ("000000000011000", 0, 32),
    ("000000000010111", 0, 33),
    ("000000000010110", 0, 34),
    ("000000000010101", 0, 35),
    ("000000000010100", 0, 36),
    ("000000000010011", 0, 37),
    ("000000000010010", 0, 38),
    ("000000000010001", 0, 39),
    ("000000000010000", 0, 40),
    ("000000000011111", 1, 8),
    ("000000000011110", 1, 9),
    ("000000000011101", 1, 10),
    ("000000000011100", 1, 11),
    ("000000000011011", 1, 12),
    ("000000000011010", 1, 13),
    ("000000000011001", 1, 14),
    ("0000000000010011", 1, 15),
    ("0000000000010010", 1, 16),
    ("0000000000010001", 1, 17),
    ("0000000000010000", 1, 18),
    ("0000000000010100", 6, 3),
    ("0000000000011010", 11, 2),
    ("0000000000011001", 12, 2),
    ("0000000000011000", 13, 2),
    ("0000000000010111", 14, 2),
    ("0000000000010110", 15, 2),
    ("0000000000010101", 16, 2),
    ("0000000000011111", 27, 1),
    ("0000000000011110", 28, 1),
    ("0000000000011101", 29, 1),
    ("0000000000011100", 30, 1),
    ("0000000000011011", 31, 1),
]);

/// Looks up the coefficient code at the top of `bits32`.
#[inline(always)]
pub(crate) fn coef(table: &CoefTable, bits32: u32) -> Coef {
    if bits32 >= 1 << 26 {
        table.short[(bits32 >> 24) as usize]
    } else {
        table.long[((bits32 >> 16) & 0x3ff) as usize]
    }
}

/// Zigzag scan (Figure 7-2): scan position to raster position.
pub(crate) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Alternate scan (Figure 7-3): scan position to raster position.
pub(crate) const ALTERNATE: [u8; 64] = [
    0, 8, 16, 24, 1, 9, 2, 10, 17, 25, 32, 40, 48, 56, 57, 49, 41, 33, 26, 18, 3, 11, 4, 12, 19,
    27, 34, 42, 50, 58, 35, 43, 51, 59, 20, 28, 5, 13, 6, 14, 21, 29, 36, 44, 52, 60, 37, 45, 53,
    61, 22, 30, 7, 15, 23, 31, 38, 46, 54, 62, 39, 47, 55, 63,
];

/// Default intra quantiser matrix (6.3.11), raster order.
pub(crate) const DEFAULT_INTRA: [u8; 64] = [
    8, 16, 19, 22, 26, 27, 29, 34, 16, 16, 22, 24, 27, 29, 34, 37, 19, 22, 26, 27, 29, 34, 34, 38,
    22, 22, 26, 27, 29, 34, 37, 40, 22, 26, 27, 29, 32, 35, 40, 48, 26, 27, 29, 32, 35, 40, 48, 58,
    26, 27, 29, 34, 38, 46, 56, 69, 27, 29, 35, 38, 46, 56, 69, 83,
];

/// quantiser_scale for q_scale_type 1 (Table 7-6), by quantiser_scale_code.
pub(crate) const NON_LINEAR_QSCALE: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 44, 48, 52, 56, 64,
    72, 80, 88, 96, 104, 112,
];

#[cfg(test)]
mod tests {
    #[test]
    fn compact_tables_equal_the_full_ones() {
        for v in 0..2048u32 {
            assert_eq!(MBA.get(v), MBA_FULL[v as usize], "mba {v:011b}");
            assert_eq!(MOTION.get(v), MOTION_FULL[v as usize], "motion {v:011b}");
        }
    }

    use super::*;

    /// The slice decoder checks for running past the end of a block's data once per
    /// block, relying on the zero bits read there matching no coefficient code.
    #[test]
    fn zero_bits_are_no_coefficient_code() {
        for table in [&B14, &B15] {
            let c = coef(table, 0);
            assert_eq!(c.len, 0);
            assert!(c.run != RUN_EOB && c.run != RUN_ESCAPE);
        }
    }

    /// Sum of 2^-len over the codes a table holds; a complete prefix code sums to 1.
    fn kraft(t: &[Entry], bits: u32) -> f64 {
        let mut sum = 0.0;
        let mut i = 0;
        while i < t.len() {
            let e = t[i];
            if e.len == 0 {
                i += 1;
                continue;
            }
            sum += 0.5f64.powi(e.len as i32);
            i += 1 << (bits - e.len as u32);
        }
        sum
    }

    #[test]
    fn code_tables_are_prefix_codes_with_the_expected_gaps() {
        // Only the forbidden all-zero codes are missing.
        assert_eq!(kraft(&CBP, 9), 1.0 - 0.5f64.powi(9));
        assert_eq!(kraft(&DC_LUMA, 9), 1.0);
        assert_eq!(kraft(&DC_CHROMA, 10), 1.0);
        // 0000 0000 xxx and 0000 0001 xxx are not motion codes.
        assert_eq!(kraft(&MOTION_FULL, 11), 1.0 - 24.0 / 2048.0);
        assert_eq!(kraft(&DMV, 2), 1.0);
    }

    #[test]
    fn dct_tables_cover_the_code_space_but_the_forbidden_codes() {
        // Codes without sign bits: EOB and escape have none, the others one more bit,
        // so weight them as the full codes. Both tables leave only 0000 0000 0000 0xxx.
        // Table one leaves unused the long codes of table zero whose values it gives
        // shorter codes (six of 12 bits, four of 13 bits: 2^-9 in all).
        for (t, unused) in [(&B14, 0.0), (&B15, 0.5f64.powi(9))] {
            let mut sum = 0.0;
            for e in t.short.iter() {
                if e.len == 0 {
                    continue;
                }
                // A code and its two signs together take 2^-len of the code space.
                sum += 0.5f64.powi(e.len as i32) / (1u32 << (8 - e.len)) as f64;
            }
            for e in t.long.iter() {
                if e.len == 0 {
                    continue;
                }
                sum += 0.5f64.powi(e.len as i32) / (1u32 << (16 - e.len)) as f64;
            }
            // Everything but the forbidden prefix of twelve zero bits is a code.
            let missing = 0.5f64.powi(12) + unused;
            assert!((sum - (1.0 - missing)).abs() < 1e-12, "{sum}");
        }
    }
}
