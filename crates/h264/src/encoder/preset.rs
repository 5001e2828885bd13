//! Encoder presets, x264's `ultrafast` ... `medium` ladder in spirit, and `--tune psnr`:
//! one table from preset to settings, applied onto an ordinary [`EncoderConfig`], so
//! every knob stays reachable on its own afterwards.
//!
//! | preset | entropy | profile, 8x8 | B | lookahead | AQ, mb-tree | me | subpel | partitions | Intra 4x4 | scene cuts |
//! |---|---|---|---:|---:|---|---|---:|---|---|---|
//! | `ultrafast` | CAVLC | Main, no | 0 | 1 | no, no | dia | 2 | no | yes | no |
//! | `superfast` | CABAC | High, yes | 3 | 4 | yes, no | dia | 2 | no | yes | yes |
//! | `veryfast` | CABAC | High, yes | 3 | 10 | yes, yes | hex | 2 | yes, early exit | yes | yes |
//! | `faster` | CABAC | High, yes | 3 | 20 | yes, yes | hex | 3 | yes, early exit | yes | yes |
//! | `fast` | CABAC | High, yes | 3 | 30 | yes, yes | hex | 4 | yes, early exit | yes | yes |
//! | `medium` | CABAC | High, yes | 3 | 40 | yes, yes | umh | 4 | yes, all | yes | yes |
//!
//! Every preset keeps the deblocking filter on, one reference frame (the only
//! number the encoder supports yet; x264's slower presets use 2 and 3), a motion
//! search range of 16 and [`EncoderConfig::new`]'s rate control, QP offsets, keyint
//! and slices. AQ and mb-tree act only with [`super::RateControl::Crf`]. With 3 B-frames
//! (`superfast` on) the middle B picture of each group is a reference
//! ([`EncoderConfig::b_pyramid`], on by default, as x264's `--b-pyramid normal`);
//! the B-frames are placed in a fixed pattern, because adaptive placement
//! ([`EncoderConfig::b_adapt`]) kept every group whole on the bench's natural clips
//! and only cost time there (`docs/benchmarks.md`).
//!
//! [`Tune::Psnr`] turns off the psychovisual options (variance AQ, the only one the
//! encoder has), for objective comparisons, as x264's `--tune psnr`.

use super::config::{EncoderConfig, Entropy, MeMethod, Profile};
use transcode_core::{Error, Result};

/// A named bundle of analysis settings trading speed for compression; see the
/// module docs for what each sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderPreset {
    /// The fastest: CAVLC, no B-frames, diamond search, 16x16 partitions only.
    Ultrafast,
    /// CABAC, High with the 8x8 transform, 3 B-frames, a diamond search, no
    /// partitions.
    Superfast,
    /// x264's broadcast default and the CLI's: CABAC, High with the 8x8 transform,
    /// 3 B-frames, a 10-frame mb-tree lookahead, AQ, hexagon search with quarter
    /// samples, partitions with an early exit. Default.
    #[default]
    Veryfast,
    /// As `veryfast` with square sub-sample refinement and a 20-frame lookahead.
    Faster,
    /// As `faster` with repeated quarter-sample refinement and a 30-frame lookahead.
    Fast,
    /// The slowest: UMH search, repeated quarter-sample refinement, every partition
    /// searched, a 40-frame lookahead.
    Medium,
}

/// The settings a preset sets (the columns of the module docs' table).
struct Settings {
    entropy: Entropy,
    profile: Profile,
    transform_8x8: bool,
    bframes: u8,
    lookahead: usize,
    aq_strength: f32,
    mbtree: bool,
    me_method: MeMethod,
    subpel_refine: u8,
    partitions: bool,
    partition_early_exit: bool,
    intra4x4: bool,
    scenecut: bool,
}

/// veryfast, the default, which the slower presets refine.
const VERYFAST: Settings = Settings {
    entropy: Entropy::Cabac,
    profile: Profile::High,
    transform_8x8: true,
    bframes: 3,
    lookahead: 10,
    aq_strength: 1.0,
    mbtree: true,
    me_method: MeMethod::Hexagon,
    subpel_refine: 2,
    partitions: true,
    partition_early_exit: true,
    intra4x4: true,
    scenecut: true,
};

/// One row per preset, in [`EncoderPreset::ALL`] order.
const TABLE: [Settings; 6] = [
    // ultrafast
    Settings {
        entropy: Entropy::Cavlc,
        profile: Profile::Main,
        transform_8x8: false,
        bframes: 0,
        lookahead: 1,
        aq_strength: 0.0,
        mbtree: false,
        me_method: MeMethod::Diamond,
        partitions: false,
        partition_early_exit: false,
        scenecut: false,
        ..VERYFAST
    },
    // superfast
    Settings {
        lookahead: 4,
        mbtree: false,
        me_method: MeMethod::Diamond,
        partitions: false,
        partition_early_exit: false,
        ..VERYFAST
    },
    VERYFAST,
    // faster
    Settings {
        lookahead: 20,
        subpel_refine: 3,
        ..VERYFAST
    },
    // fast
    Settings {
        lookahead: 30,
        subpel_refine: 4,
        ..VERYFAST
    },
    // medium
    Settings {
        lookahead: 40,
        me_method: MeMethod::Umh,
        subpel_refine: 4,
        partition_early_exit: false,
        ..VERYFAST
    },
];

impl EncoderPreset {
    /// Every preset, fastest first.
    pub const ALL: [EncoderPreset; 6] = [
        EncoderPreset::Ultrafast,
        EncoderPreset::Superfast,
        EncoderPreset::Veryfast,
        EncoderPreset::Faster,
        EncoderPreset::Fast,
        EncoderPreset::Medium,
    ];

    /// The lowercase name, as x264 spells it.
    pub fn name(self) -> &'static str {
        match self {
            EncoderPreset::Ultrafast => "ultrafast",
            EncoderPreset::Superfast => "superfast",
            EncoderPreset::Veryfast => "veryfast",
            EncoderPreset::Faster => "faster",
            EncoderPreset::Fast => "fast",
            EncoderPreset::Medium => "medium",
        }
    }

    fn settings(self) -> &'static Settings {
        &TABLE[self as usize]
    }

    /// Sets the preset's settings (the module docs' table) on `cfg`, leaving the
    /// others (size, rate control, keyint, slices, ...) as they are.
    pub fn apply(self, cfg: &mut EncoderConfig) {
        let s = self.settings();
        cfg.entropy = s.entropy;
        cfg.profile = s.profile;
        cfg.transform_8x8 = s.transform_8x8;
        cfg.bframes = s.bframes;
        cfg.lookahead = s.lookahead;
        cfg.aq_strength = s.aq_strength;
        cfg.mbtree = s.mbtree;
        cfg.me_method = s.me_method;
        cfg.subpel_refine = s.subpel_refine;
        cfg.partitions = s.partitions;
        cfg.partition_early_exit = s.partition_early_exit;
        cfg.intra4x4 = s.intra4x4;
        cfg.scenecut = s.scenecut;
        cfg.deblock = true;
        cfg.ref_frames = 1;
        cfg.me_range = 16;
    }
}

impl std::fmt::Display for EncoderPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EncoderPreset {
    type Err = Error;

    fn from_str(s: &str) -> Result<EncoderPreset> {
        EncoderPreset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            Error::invalid(format!(
                "invalid preset {s:?} (expected ultrafast, superfast, veryfast, faster, fast or medium)"
            ))
        })
    }
}

/// Tuning applied after a preset, as x264's `--tune`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tune {
    /// Optimise PSNR: no variance AQ (the encoder's only psychovisual option), for
    /// objective comparisons. mb-tree stays on, as in x264's `--tune psnr`: it
    /// moves bits to where later pictures reuse them, which is not a psychovisual
    /// choice.
    Psnr,
}

impl Tune {
    /// Every tuning.
    pub const ALL: [Tune; 1] = [Tune::Psnr];

    /// The lowercase name, as x264 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Tune::Psnr => "psnr",
        }
    }

    /// Sets the tuning's settings on `cfg`.
    pub fn apply(self, cfg: &mut EncoderConfig) {
        match self {
            Tune::Psnr => cfg.aq_strength = 0.0,
        }
    }
}

impl std::fmt::Display for Tune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Tune {
    type Err = Error;

    fn from_str(s: &str) -> Result<Tune> {
        Tune::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::invalid(format!("invalid tune {s:?} (expected psnr)")))
    }
}

impl EncoderConfig {
    /// [`EncoderConfig::new`]'s defaults for a `width` x `height` picture with
    /// `preset`'s settings on top.
    pub fn with_preset(width: u32, height: u32, preset: EncoderPreset) -> EncoderConfig {
        let mut cfg = EncoderConfig::new(width, height);
        preset.apply(&mut cfg);
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for p in EncoderPreset::ALL {
            assert_eq!(p.name().parse::<EncoderPreset>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("psnr".parse::<Tune>().unwrap(), Tune::Psnr);
        let e = "slow".parse::<EncoderPreset>().unwrap_err().to_string();
        assert!(
            e.contains("invalid preset \"slow\" (expected ultrafast"),
            "{e}"
        );
        assert!("ssim"
            .parse::<Tune>()
            .unwrap_err()
            .to_string()
            .contains("invalid tune \"ssim\""));
        assert_eq!(EncoderPreset::default(), EncoderPreset::Veryfast);
        for m in MeMethod::ALL {
            assert_eq!(m.name().parse::<MeMethod>().unwrap(), m);
        }
        assert!("esa"
            .parse::<MeMethod>()
            .unwrap_err()
            .to_string()
            .contains("invalid me method \"esa\" (expected dia, hex or umh)"));
    }

    #[test]
    fn every_preset_is_a_valid_config_at_every_size() {
        for p in EncoderPreset::ALL {
            for (w, h) in [(16, 16), (176, 144), (1920, 1080)] {
                let mut cfg = EncoderConfig::with_preset(w, h, p);
                cfg.validate()
                    .unwrap_or_else(|e| panic!("{p} {w}x{h}: {e}"));
                Tune::Psnr.apply(&mut cfg);
                cfg.validate().unwrap();
                assert_eq!(cfg.aq_strength, 0.0);
            }
        }
    }

    #[test]
    fn the_ladder_gets_slower_in_every_search_setting() {
        let cfgs: Vec<EncoderConfig> = EncoderPreset::ALL
            .iter()
            .map(|&p| EncoderConfig::with_preset(64, 64, p))
            .collect();
        for w in cfgs.windows(2) {
            assert!(w[1].subpel_refine >= w[0].subpel_refine);
            assert!(w[1].me_method as u8 >= w[0].me_method as u8);
            assert!(w[1].lookahead >= w[0].lookahead);
            assert!(w[1].bframes >= w[0].bframes);
        }
        let u = &cfgs[0];
        assert_eq!(
            (u.entropy, u.profile, u.bframes, u.partitions, u.intra4x4),
            (Entropy::Cavlc, Profile::Main, 0, false, true)
        );
        assert!(!u.uses_8x8_transform() && !u.mbtree && u.aq_strength == 0.0 && u.deblock);
        let v = EncoderConfig::with_preset(64, 64, EncoderPreset::Veryfast);
        assert_eq!(
            (v.entropy, v.bframes, v.lookahead, v.me_method),
            (Entropy::Cabac, 3, 10, MeMethod::Hexagon)
        );
        assert!(
            v.uses_8x8_transform()
                && v.mbtree
                && v.aq_strength > 0.0
                && v.partitions
                && v.partition_early_exit
        );
        let m = &cfgs[5];
        assert_eq!((m.me_method, m.lookahead), (MeMethod::Umh, 40));
        assert!(m.subpel_refine > v.subpel_refine);
    }

    #[test]
    fn explicit_settings_survive_a_preset_applied_first() {
        let mut cfg = EncoderConfig::with_preset(64, 64, EncoderPreset::Medium);
        cfg.bframes = 0;
        cfg.qp = 30;
        assert_eq!((cfg.bframes, cfg.qp, cfg.me_method), (0, 30, MeMethod::Umh));
        // Applying a preset leaves what it does not set alone.
        let mut cfg = EncoderConfig::new(64, 64);
        cfg.keyint = 7;
        cfg.slices = 2;
        EncoderPreset::Ultrafast.apply(&mut cfg);
        assert_eq!((cfg.keyint, cfg.slices), (7, 2));
    }
}
