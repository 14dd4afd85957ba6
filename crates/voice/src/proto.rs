//! Just enough protobuf to edit an ONNX model without a protobuf compiler: walk a
//! message's fields, copy the ones kept byte for byte, and write new ones.

/// Why a buffer is not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model is not a valid ONNX protobuf: {0}")]
pub struct ProtoError(pub &'static str);

/// A field's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

/// One field of a message: its number, its payload and its whole encoding (tag included),
/// so that a kept field is copied unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub number: u64,
    pub payload: Payload<'a>,
    pub encoded: &'a [u8],
}

impl<'a> Field<'a> {
    /// The payload of a length-delimited field (a string, bytes or a sub-message).
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.payload {
            Payload::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// A string field's text.
    pub fn text(&self) -> Option<&'a str> {
        self.bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, ProtoError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf
            .get(*at)
            .ok_or(ProtoError("a varint runs past the end"))?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtoError("a varint is longer than 10 bytes"))
}

fn take<'a>(buf: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], ProtoError> {
    let end = at
        .checked_add(len)
        .filter(|&end| end <= buf.len())
        .ok_or(ProtoError("a field runs past the end of its message"))?;
    let out = &buf[*at..end];
    *at = end;
    Ok(out)
}

/// Every field of `message`, in order.
pub(crate) fn fields(message: &[u8]) -> Result<Vec<Field<'_>>, ProtoError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let start = at;
        let tag = varint(message, &mut at)?;
        let payload = match tag & 7 {
            0 => Payload::Varint(varint(message, &mut at)?),
            1 => {
                take(message, &mut at, 8)?;
                Payload::Fixed64
            }
            2 => {
                let len = usize::try_from(varint(message, &mut at)?)
                    .map_err(|_| ProtoError("a length does not fit in memory"))?;
                Payload::Bytes(take(message, &mut at, len)?)
            }
            5 => {
                take(message, &mut at, 4)?;
                Payload::Fixed32
            }
            _ => return Err(ProtoError("an unknown wire type")),
        };
        out.push(Field {
            number: tag >> 3,
            payload,
            encoded: &message[start..at],
        });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Writes a varint field.
pub(crate) fn put_int(out: &mut Vec<u8>, number: u64, value: u64) {
    put_varint(out, number << 3);
    put_varint(out, value);
}

/// Writes a length-delimited field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Writes a packed repeated int64 field.
pub(crate) fn put_packed(out: &mut Vec<u8>, number: u64, values: &[i64]) {
    let mut packed = Vec::new();
    for &v in values {
        put_varint(&mut packed, v as u64);
    }
    put_bytes(out, number, &packed);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_bad_buffers_are_errors() {
        let mut m = Vec::new();
        put_int(&mut m, 1, 300);
        put_bytes(&mut m, 4, b"Slice");
        put_packed(&mut m, 7, &[0, -1, 2]);
        let f = fields(&m).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].number, f[0].payload), (1, Payload::Varint(300)));
        assert_eq!(f[1].text(), Some("Slice"));
        assert_eq!(f[2].number, 7);
        let copied: Vec<u8> = f.iter().flat_map(|x| x.encoded.to_vec()).collect();
        assert_eq!(copied, m);
        // 300 is 0xAC 0x02: the protobuf spec's own example.
        assert_eq!(&m[1..3], &[0xAC, 0x02]);
        assert!(fields(&m[..m.len() - 1]).is_err());
        assert!(fields(&[0x0B]).is_err()); // wire type 3 (groups) is not supported
        assert!(fields(&[0x08, 0xFF]).is_err());
    }
}
