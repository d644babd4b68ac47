//! GeoPackage geometry blobs (GeoPackage 1.3 §2.1.3): a `GP` header with the SRS id and an
//! envelope, then ISO WKB. Written and read here so that the store needs no GDAL on its threads.

use geo::{
    BoundingRect, Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point,
    Polygon,
};

/// A blob that is not a GeoPackage geometry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a GeoPackage geometry: {0}")]
pub struct BlobError(pub String);

/// Encodes `geom` as a GeoPackage geometry blob with an XY envelope.
pub fn encode(geom: &Geometry, srs_id: i32) -> Vec<u8> {
    encode_with(geom, srs_id, true)
}

/// Encodes `geom` as a GeoPackage geometry blob without an envelope (envelope code 0, which the
/// standard allows and GDAL writes for points): 32 bytes fewer where a spatial index holds the
/// box anyway.
pub fn encode_bare(geom: &Geometry, srs_id: i32) -> Vec<u8> {
    encode_with(geom, srs_id, false)
}

fn encode_with(geom: &Geometry, srs_id: i32, with_envelope: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"GP");
    out.push(0); // version 1
    let rect = geom.bounding_rect();
    let empty = rect.is_none();
    // flags: bit 0 little endian; bits 1-3 envelope (1 = xy); bit 4 empty.
    let envelope_flag = if with_envelope { 0b0000_0010 } else { 0 };
    let flags: u8 = 0b0000_0001 | if empty { 0b0001_0000 } else { envelope_flag };
    out.push(flags);
    out.extend_from_slice(&srs_id.to_le_bytes());
    if let Some(r) = rect.filter(|_| with_envelope) {
        for v in [r.min().x, r.max().x, r.min().y, r.max().y] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    write_wkb(&mut out, geom);
    out
}

/// The XY envelope (min_x, min_y, max_x, max_y) of `geom`, if it has one.
pub fn envelope(geom: &Geometry) -> Option<[f64; 4]> {
    geom.bounding_rect().map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

/// Decodes a GeoPackage geometry blob into (SRS id, geometry).
pub fn decode(blob: &[u8]) -> Result<(i32, Geometry), BlobError> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return Err(BlobError("missing GP magic".into()));
    }
    let flags = blob[3];
    let little = flags & 1 == 1;
    let srs_bytes: [u8; 4] = blob[4..8].try_into().map_err(|_| BlobError("short header".into()))?;
    let srs_id = if little { i32::from_le_bytes(srs_bytes) } else { i32::from_be_bytes(srs_bytes) };
    let env_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => return Err(BlobError(format!("envelope code {e}"))),
    };
    let start = 8 + env_len;
    if blob.len() < start {
        return Err(BlobError("short envelope".into()));
    }
    let mut r = Reader { buf: &blob[start..], pos: 0 };
    let g = r.geometry()?;
    Ok((srs_id, g))
}

fn write_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn write_coords(out: &mut Vec<u8>, ls: &LineString) {
    write_u32(out, ls.0.len() as u32);
    for c in &ls.0 {
        out.extend_from_slice(&c.x.to_le_bytes());
        out.extend_from_slice(&c.y.to_le_bytes());
    }
}

fn write_polygon_body(out: &mut Vec<u8>, p: &Polygon) {
    if p.exterior().0.is_empty() {
        write_u32(out, 0);
        return;
    }
    write_u32(out, 1 + p.interiors().len() as u32);
    write_coords(out, p.exterior());
    for ring in p.interiors() {
        write_coords(out, ring);
    }
}

fn write_wkb(out: &mut Vec<u8>, geom: &Geometry) {
    out.push(1);
    match geom {
        Geometry::Point(p) => {
            write_u32(out, 1);
            out.extend_from_slice(&p.x().to_le_bytes());
            out.extend_from_slice(&p.y().to_le_bytes());
        }
        Geometry::LineString(ls) => {
            write_u32(out, 2);
            write_coords(out, ls);
        }
        Geometry::Polygon(p) => {
            write_u32(out, 3);
            write_polygon_body(out, p);
        }
        Geometry::MultiPoint(mp) => {
            write_u32(out, 4);
            write_u32(out, mp.0.len() as u32);
            for p in &mp.0 {
                write_wkb(out, &Geometry::Point(*p));
            }
        }
        Geometry::MultiLineString(ml) => {
            write_u32(out, 5);
            write_u32(out, ml.0.len() as u32);
            for l in &ml.0 {
                write_wkb(out, &Geometry::LineString(l.clone()));
            }
        }
        Geometry::MultiPolygon(mp) => {
            write_u32(out, 6);
            write_u32(out, mp.0.len() as u32);
            for p in &mp.0 {
                out.push(1);
                write_u32(out, 3);
                write_polygon_body(out, p);
            }
        }
        Geometry::GeometryCollection(gc) => {
            write_u32(out, 7);
            write_u32(out, gc.0.len() as u32);
            for g in &gc.0 {
                write_wkb(out, g);
            }
        }
        Geometry::Line(l) => write_wkb(out, &Geometry::LineString(LineString::from(vec![l.start, l.end]))),
        Geometry::Rect(r) => write_wkb(out, &Geometry::Polygon(r.to_polygon())),
        Geometry::Triangle(t) => write_wkb(out, &Geometry::Polygon(t.to_polygon())),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], BlobError> {
        let end = self.pos.checked_add(N).ok_or_else(|| BlobError("overflow".into()))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| BlobError("truncated WKB".into()))?;
        self.pos = end;
        s.try_into().map_err(|_| BlobError("truncated WKB".into()))
    }

    fn u32(&mut self, little: bool) -> Result<u32, BlobError> {
        let b = self.take::<4>()?;
        Ok(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn f64(&mut self, little: bool) -> Result<f64, BlobError> {
        let b = self.take::<8>()?;
        Ok(if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) })
    }

    fn count(&mut self, little: bool, min_bytes_each: usize) -> Result<usize, BlobError> {
        let n = self.u32(little)? as usize;
        if n.saturating_mul(min_bytes_each) > self.buf.len().saturating_sub(self.pos) {
            return Err(BlobError(format!("count {n} larger than the blob")));
        }
        Ok(n)
    }

    fn coord(&mut self, little: bool, dims: usize) -> Result<Coord, BlobError> {
        let x = self.f64(little)?;
        let y = self.f64(little)?;
        for _ in 2..dims {
            self.f64(little)?;
        }
        Ok(Coord { x, y })
    }

    fn line(&mut self, little: bool, dims: usize) -> Result<LineString, BlobError> {
        let n = self.count(little, 8 * dims)?;
        (0..n).map(|_| self.coord(little, dims)).collect::<Result<Vec<_>, _>>().map(LineString::new)
    }

    fn polygon(&mut self, little: bool, dims: usize) -> Result<Polygon, BlobError> {
        let n = self.count(little, 4)?;
        let mut rings = (0..n).map(|_| self.line(little, dims)).collect::<Result<Vec<_>, _>>()?;
        if rings.is_empty() {
            return Ok(Polygon::new(LineString::new(vec![]), vec![]));
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    }

    fn geometry(&mut self) -> Result<Geometry, BlobError> {
        let [order] = self.take::<1>()?;
        let little = order == 1;
        let raw = self.u32(little)?;
        let (base, dims) = match raw & 0x0FFF_FFFF {
            t @ 1..=7 => (t, 2 + usize::from(raw & 0x8000_0000 != 0) + usize::from(raw & 0x4000_0000 != 0)),
            t @ 1001..=1007 => (t - 1000, 3),
            t @ 2001..=2007 => (t - 2000, 3),
            t @ 3001..=3007 => (t - 3000, 4),
            t => return Err(BlobError(format!("WKB type {t} not supported"))),
        };
        Ok(match base {
            1 => {
                let c = self.coord(little, dims)?;
                Geometry::Point(Point(c))
            }
            2 => Geometry::LineString(self.line(little, dims)?),
            3 => Geometry::Polygon(self.polygon(little, dims)?),
            4..=7 => {
                let n = self.count(little, 5)?;
                let parts = (0..n).map(|_| self.geometry()).collect::<Result<Vec<_>, _>>()?;
                match base {
                    4 => Geometry::MultiPoint(MultiPoint(
                        parts
                            .into_iter()
                            .filter_map(|g| if let Geometry::Point(p) = g { Some(p) } else { None })
                            .collect(),
                    )),
                    5 => Geometry::MultiLineString(MultiLineString(
                        parts
                            .into_iter()
                            .filter_map(|g| if let Geometry::LineString(l) = g { Some(l) } else { None })
                            .collect(),
                    )),
                    6 => Geometry::MultiPolygon(MultiPolygon(
                        parts
                            .into_iter()
                            .filter_map(|g| if let Geometry::Polygon(p) = g { Some(p) } else { None })
                            .collect(),
                    )),
                    _ => Geometry::GeometryCollection(GeometryCollection(parts)),
                }
            }
            _ => return Err(BlobError(format!("WKB type {base}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn round_trip() {
        let p = polygon![
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0), (x: 1.0, y: 1.0)]],
        ];
        for g in [
            Geometry::MultiPolygon(MultiPolygon(vec![p.clone(), p.clone()])),
            Geometry::Polygon(p),
            Geometry::Point(Point::new(111.5, 41.2)),
        ] {
            let blob = encode(&g, 4490);
            assert_eq!(decode(&blob).unwrap(), (4490, g.clone()));
            // Without the envelope: 32 bytes fewer, flags 0b0000_0001 (GeoPackage 1.3 §2.1.3.1.1).
            let bare = encode_bare(&g, 4490);
            assert_eq!((bare.len() + 32, bare[3]), (blob.len(), 1));
            assert_eq!(bare[8..], blob[40..]);
            assert_eq!(decode(&bare).unwrap(), (4490, g));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(b"nope").is_err());
        let mut blob = encode(&Geometry::Point(Point::new(1.0, 2.0)), 4490);
        blob.truncate(blob.len() - 3);
        assert!(decode(&blob).is_err());
        // A huge ring count must not allocate.
        let mut blob = encode(&Geometry::LineString(LineString::new(vec![])), 0);
        let n = blob.len();
        blob[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&blob).is_err());
    }
}
