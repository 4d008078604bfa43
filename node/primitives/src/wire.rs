//! A small strict binary encoding for our own records: big-endian integers,
//! u32-length-prefixed strings and byte strings. Decoding never guesses: a short
//! record, trailing bytes or invalid UTF-8 is an error.

use crate::error::WireError;

#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer(Vec::with_capacity(n))
    }
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader(bytes)
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated { wanted: n, left: self.0.len() });
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    pub fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub fn str(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(WireError::NotUtf8)
    }
    /// Checks a leading format byte.
    pub fn format(&mut self, expected: u8) -> Result<(), WireError> {
        match self.u8()? {
            v if v == expected => Ok(()),
            other => Err(WireError::UnknownFormat(other)),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn finish(self) -> Result<(), WireError> {
        if self.0.is_empty() { Ok(()) } else { Err(WireError::Trailing(self.0.len())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let mut w = Writer::default();
        w.u8(1);
        w.u32(7);
        w.u64(9);
        w.str("zkvm");
        w.bytes(&[1, 2, 3]);
        let b = w.finish();
        let mut r = Reader::new(&b);
        r.format(1).unwrap();
        assert_eq!((r.u32(), r.u64(), r.str(), r.bytes()), (Ok(7), Ok(9), Ok("zkvm".into()), Ok(&[1u8, 2, 3][..])));
        assert!(r.finish().is_ok());
        for cut in 0..b.len() {
            let mut r = Reader::new(&b[..cut]);
            let all = (|| -> Result<(), WireError> {
                r.format(1)?;
                r.u32()?;
                r.u64()?;
                r.str()?;
                r.bytes()?;
                Ok(())
            })();
            assert!(all.is_err(), "cut at {cut}");
        }
        assert_eq!(Reader::new(&[2]).format(1), Err(WireError::UnknownFormat(2)));
        assert!(matches!(Reader::new(&[0, 0, 0, 1, 0xff]).str(), Err(WireError::NotUtf8(_))));
        assert_eq!(Reader::new(&[1, 2]).finish().unwrap_err().to_string(), "2 trailing bytes");
        assert_eq!(
            Reader::new(&[0, 0, 0, 9]).bytes().unwrap_err().to_string(),
            "truncated: wanted 9 more bytes, 0 left"
        );
    }
}
