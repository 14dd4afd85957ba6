//! MP3 through LAME (the `mp3lame-encoder` crate, which builds the LAME source it
//! bundles; LGPL-3.0). Constant bit rate, mono, LAME's best quality.

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, MonoPcm, Quality};

/// ElevenLabs' MP3 formats: (rate, kbps).
pub const FORMATS: [(u32, u32); 7] = [
    (22050, 32),
    (24000, 48),
    (44100, 32),
    (44100, 64),
    (44100, 96),
    (44100, 128),
    (44100, 192),
];

fn bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        96 => Bitrate::Kbps96,
        128 => Bitrate::Kbps128,
        192 => Bitrate::Kbps192,
        _ => return None,
    })
}

/// `samples` (already at `rate`) as one MP3 stream, flushed.
pub fn encode(samples: &[i16], rate: u32, kbps: u32) -> Result<Vec<u8>, String> {
    let mut builder = Builder::new().ok_or("LAME could not start")?;
    let e = |e: &dyn std::fmt::Debug| format!("LAME: {e:?}");
    builder.set_num_channels(1).map_err(|x| e(&x))?;
    builder.set_sample_rate(rate).map_err(|x| e(&x))?;
    builder
        .set_brate(bitrate(kbps).ok_or_else(|| format!("no MP3 bit rate {kbps} kbps"))?)
        .map_err(|x| e(&x))?;
    builder.set_quality(Quality::Best).map_err(|x| e(&x))?;
    let mut encoder = builder.build().map_err(|x| e(&x))?;
    // LAME's documented worst case: 1.25 · samples + 7200 bytes.
    let mut out = Vec::with_capacity(samples.len() * 5 / 4 + 7200);
    encoder
        .encode_to_vec(MonoPcm(samples), &mut out)
        .map_err(|x| e(&x))?;
    encoder
        .flush_to_vec::<FlushNoGap>(&mut out)
        .map_err(|x| e(&x))?;
    Ok(out)
}
