//! A minimal YUV4MPEG2 reader (4:2:0, 8-bit) for the encoder's example and tests.

/// A whole Y4M file in memory: its size, frame rate, and the packed frames.
pub struct Y4m {
    pub width: u32,
    pub height: u32,
    pub rate: (u32, u32),
    pub frames: Vec<Vec<u8>>,
}

impl Y4m {
    /// Parses `data`; `None` when it is not 4:2:0 Y4M.
    pub fn parse(data: &[u8]) -> Option<Y4m> {
        let nl = data.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&data[..nl]).ok()?;
        let mut words = header.split(' ');
        if words.next()? != "YUV4MPEG2" {
            return None;
        }
        let (mut width, mut height, mut rate) = (0, 0, (25, 1));
        for w in words {
            let (tag, v) = w.split_at(1);
            match tag {
                "W" => width = v.parse().ok()?,
                "H" => height = v.parse().ok()?,
                "F" => {
                    let (n, d) = v.split_once(':')?;
                    rate = (n.parse().ok()?, d.parse().ok()?);
                }
                "C" if !v.starts_with("420") => return None,
                _ => {}
            }
        }
        let size = (width * height + 2 * (width / 2) * (height / 2)) as usize;
        let mut frames = Vec::new();
        let mut pos = nl + 1;
        while pos < data.len() {
            let nl = pos + data[pos..].iter().position(|&b| b == b'\n')?;
            if !data[pos..nl].starts_with(b"FRAME") {
                return None;
            }
            let body = data.get(nl + 1..nl + 1 + size)?;
            frames.push(body.to_vec());
            pos = nl + 1 + size;
        }
        Some(Y4m { width, height, rate, frames })
    }
}
