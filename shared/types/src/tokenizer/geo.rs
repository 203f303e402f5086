//! The `geo` index: cells of a longitude/latitude quadtree covering a geometry, and the
//! queries `near`, `within`, `contains` and `intersects` (candidates from the cells, then an
//! exact check).
//!
//! Cells: at level `l` (0 to [`MAX_LEVEL`]) longitude `[-180, 180]` and latitude `[-90, 90]`
//! are each cut into `2^l` equal parts; cell `(l, x, y)` is column `x` (from -180) and row `y`
//! (from -90); `(l-1, x/2, y/2)` is its parent. A bounding box is covered, at the finest level
//! where at most [`MAX_COVER`] cells do it, by the cells it touches. A geometry is indexed under
//! `cover` tokens (its box's covering cells) and `parent` tokens (those cells and every
//! ancestor). A query looks up its region's box covering as `parent` tokens and the cells and
//! their ancestors as `cover` tokens: any geometry sharing a point with the region shares a
//! token, whichever of the two was covered at the finer level. Token bytes after the id:
//! `c` or `p`, the level (1 byte), `x` and `y` (u32 big-endian each).
//!
//! The exact checks treat coordinates as planar longitude/latitude (as GeoJSON does), except
//! distances: `near` measures metres on a sphere of the Earth's mean radius (haversine).
//! A `near` circle crossing the antimeridian is looked up on both sides; stored geometries and
//! query polygons are taken as written (a polygon spanning longitude 180 is not split).

use std::collections::BTreeSet;

use geo::{
    BoundingRect, Closest, ClosestPoint, Contains, Coord, Geometry, GeometryCollection, Intersects,
    LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, Rect,
};
use serde_json::Value as Json;

use super::IndexKind;

/// The finest level: cells of about 34 m by 17 m at the equator.
pub const MAX_LEVEL: u8 = 20;
/// The most cells a box's covering may have.
pub const MAX_COVER: u64 = 8;
/// The Earth's mean radius, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

const COVER: u8 = b'c';
const PARENT: u8 = b'p';

/// A cell of the quadtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// The level, 0 to [`MAX_LEVEL`].
    pub level: u8,
    /// The column, from longitude -180.
    pub x: u32,
    /// The row, from latitude -90.
    pub y: u32,
}

impl Cell {
    fn parent(self) -> Option<Cell> {
        (self.level > 0).then(|| Cell {
            level: self.level - 1,
            x: self.x / 2,
            y: self.y / 2,
        })
    }

    /// This cell and every ancestor up to level 0.
    fn with_ancestors(self) -> impl Iterator<Item = Cell> {
        std::iter::successors(Some(self), |c| c.parent())
    }

    fn token(self, role: u8) -> Vec<u8> {
        let mut t = Vec::with_capacity(11);
        t.push(IndexKind::Geo.id());
        t.push(role);
        t.push(self.level);
        t.extend_from_slice(&self.x.to_be_bytes());
        t.extend_from_slice(&self.y.to_be_bytes());
        t
    }
}

/// The column or row of `frac` (0 to 1 along the axis) at `level`. Scaling by a power of two
/// is exact, so a point's cells at different levels always nest.
fn axis(frac: f64, level: u8) -> u32 {
    let n = f64::from(1u32 << level);
    let v = (frac * n).floor();
    if v.is_nan() || v < 0.0 {
        0
    } else if v >= n {
        (1u32 << level) - 1
    } else {
        v as u32
    }
}

fn lon_frac(lon: f64) -> f64 {
    (lon + 180.0) / 360.0
}

fn lat_frac(lat: f64) -> f64 {
    (lat + 90.0) / 180.0
}

/// The cells covering `rect` (x is longitude, y latitude), at the finest level where at most
/// [`MAX_COVER`] do.
pub fn cover(rect: &Rect<f64>) -> Vec<Cell> {
    let (min, max) = (rect.min(), rect.max());
    let (fx0, fx1) = (lon_frac(min.x), lon_frac(max.x));
    let (fy0, fy1) = (lat_frac(min.y), lat_frac(max.y));
    for level in (0..=MAX_LEVEL).rev() {
        let (x0, x1) = (axis(fx0, level), axis(fx1, level));
        let (y0, y1) = (axis(fy0, level), axis(fy1, level));
        let count = u64::from(x1 - x0 + 1) * u64::from(y1 - y0 + 1);
        if count <= MAX_COVER || level == 0 {
            let mut out = Vec::new();
            for x in x0..=x1 {
                for y in y0..=y1 {
                    out.push(Cell { level, x, y });
                }
            }
            return out;
        }
    }
    Vec::new()
}

/// The index tokens of a geometry: `cover` tokens of its box's covering, `parent` tokens of
/// those cells and their ancestors. An empty geometry has none.
pub fn index_tokens(g: &Geometry<f64>) -> Vec<Vec<u8>> {
    let Some(rect) = g.bounding_rect() else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    for c in cover(&rect) {
        out.insert(c.token(COVER));
        for a in c.with_ancestors() {
            out.insert(a.token(PARENT));
        }
    }
    out.into_iter().collect()
}

/// The tokens to look up for geometries that may share a point with `region`.
pub fn region_tokens(region: &Rect<f64>) -> Vec<Vec<u8>> {
    let mut out = BTreeSet::new();
    for c in cover(region) {
        out.insert(c.token(PARENT));
        for a in c.with_ancestors() {
            out.insert(a.token(COVER));
        }
    }
    out.into_iter().collect()
}

/// Parses GeoJSON geometry text (as `geo` values are stored) into a geometry.
pub fn parse_geojson(text: &str) -> Result<Geometry<f64>, String> {
    let v: Json =
        serde_json::from_str(text).map_err(|e| format!("expected GeoJSON geometry: {e}"))?;
    from_json(&v)
}

fn from_json(v: &Json) -> Result<Geometry<f64>, String> {
    let ty = v
        .get("type")
        .and_then(Json::as_str)
        .ok_or("expected a GeoJSON object with a type")?;
    if ty == "GeometryCollection" {
        let parts = v
            .get("geometries")
            .and_then(Json::as_array)
            .ok_or("a GeometryCollection needs geometries")?;
        let geoms = parts.iter().map(from_json).collect::<Result<Vec<_>, _>>()?;
        return Ok(Geometry::GeometryCollection(GeometryCollection(geoms)));
    }
    let c = v
        .get("coordinates")
        .ok_or_else(|| format!("the {ty} has no coordinates"))?;
    Ok(match ty {
        "Point" => Geometry::Point(point(c)?),
        "MultiPoint" => Geometry::MultiPoint(MultiPoint(list(c, point)?)),
        "LineString" => Geometry::LineString(line(c)?),
        "MultiLineString" => Geometry::MultiLineString(MultiLineString(list(c, line)?)),
        "Polygon" => Geometry::Polygon(polygon(c)?),
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(list(c, polygon)?)),
        other => return Err(format!("unknown GeoJSON geometry type {other}")),
    })
}

fn list<T>(v: &Json, item: fn(&Json) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.as_array()
        .ok_or("expected a list of coordinates")?
        .iter()
        .map(item)
        .collect()
}

fn coord(v: &Json) -> Result<Coord<f64>, String> {
    let pair = v
        .as_array()
        .ok_or("expected a [longitude, latitude] pair")?;
    let num = |i: usize| {
        pair.get(i)
            .and_then(Json::as_f64)
            .ok_or("expected a [longitude, latitude] pair of numbers")
    };
    Ok(Coord {
        x: num(0)?,
        y: num(1)?,
    })
}

fn point(v: &Json) -> Result<Point<f64>, String> {
    coord(v).map(Point)
}

fn line(v: &Json) -> Result<LineString<f64>, String> {
    list(v, coord).map(LineString)
}

fn polygon(v: &Json) -> Result<Polygon<f64>, String> {
    let mut rings = list(v, line)?.into_iter();
    let exterior = rings.next().ok_or("a polygon needs at least one ring")?;
    if exterior.0.len() < 4 {
        return Err("a polygon's ring needs at least 4 points (the first repeated last)".into());
    }
    Ok(Polygon::new(exterior, rings.collect()))
}

/// The great-circle distance between two points, in metres.
pub fn haversine_m(a: Point<f64>, b: Point<f64>) -> f64 {
    let (la1, la2) = (a.y().to_radians(), b.y().to_radians());
    let dlat = la2 - la1;
    let dlon = (b.x() - a.x()).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Boxes holding every point within `metres` of `center`: one, or two when the circle
/// crosses the antimeridian (the part beyond it wrapped to the other side).
pub fn near_boxes(center: Point<f64>, metres: f64) -> Vec<Rect<f64>> {
    let angle = metres / EARTH_RADIUS_M;
    let delta = angle.to_degrees() * 1.001 + 1e-9;
    let (lat0, lat1) = (
        (center.y() - delta).max(-90.0),
        (center.y() + delta).min(90.0),
    );
    let rect = |x0: f64, x1: f64| Rect::new(Coord { x: x0, y: lat0 }, Coord { x: x1, y: lat1 });
    // The widest longitude span of a spherical cap is asin(sin(angle) / cos(lat)); a cap
    // reaching a pole, or as wide as that, spans every longitude.
    let ratio = angle.sin() / center.y().to_radians().cos();
    if lat0 <= -90.0
        || lat1 >= 90.0
        || angle >= std::f64::consts::FRAC_PI_2
        || !(0.0..1.0).contains(&ratio)
    {
        return vec![rect(-180.0, 180.0)];
    }
    let d = ratio.asin().to_degrees() * 1.001 + 1e-9;
    let (lon0, lon1) = (center.x() - d, center.x() + d);
    let mut out = vec![rect(lon0.max(-180.0), lon1.min(180.0))];
    if lon0 < -180.0 {
        out.push(rect(lon0 + 360.0, 180.0));
    }
    if lon1 > 180.0 {
        out.push(rect(-180.0, lon1 - 360.0));
    }
    out
}

/// A geo query function with its argument.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoQuery {
    /// `near(p, [lon, lat], metres)`: geometries with a point within `metres` of `center`.
    Near {
        /// The center.
        center: Point<f64>,
        /// The radius, in metres.
        metres: f64,
    },
    /// `within(p, polygon)`: geometries lying inside the polygon(s).
    Within(MultiPolygon<f64>),
    /// `contains(p, point or polygon)`: geometries containing it.
    Contains(Geometry<f64>),
    /// `intersects(p, polygon)`: geometries sharing a point with the polygon(s).
    Intersects(MultiPolygon<f64>),
}

impl GeoQuery {
    /// The boxes every match shares a point with (any of them).
    pub fn regions(&self) -> Vec<Rect<f64>> {
        match self {
            GeoQuery::Near { center, metres } => near_boxes(*center, *metres),
            GeoQuery::Within(mp) | GeoQuery::Intersects(mp) => {
                mp.bounding_rect().into_iter().collect()
            }
            GeoQuery::Contains(g) => g.bounding_rect().into_iter().collect(),
        }
    }

    /// The index tokens to look up for candidates.
    pub fn tokens(&self) -> Vec<Vec<u8>> {
        let mut out = BTreeSet::new();
        for r in self.regions() {
            out.extend(region_tokens(&r));
        }
        out.into_iter().collect()
    }

    /// Whether the stored geometry `g` satisfies the query.
    pub fn matches(&self, g: &Geometry<f64>) -> bool {
        match self {
            GeoQuery::Near { center, metres } => near(g, *center, *metres),
            GeoQuery::Within(area) => within(g, area),
            GeoQuery::Contains(inner) => contains(g, inner),
            GeoQuery::Intersects(area) => g.intersects(area),
        }
    }
}

fn near(g: &Geometry<f64>, center: Point<f64>, metres: f64) -> bool {
    match g {
        Geometry::Point(p) => haversine_m(*p, center) <= metres,
        Geometry::GeometryCollection(gc) => gc.0.iter().any(|g| near(g, center, metres)),
        Geometry::MultiPoint(mp) => mp.0.iter().any(|p| haversine_m(*p, center) <= metres),
        _ => {
            if g.intersects(&center) {
                return true;
            }
            match g.closest_point(&center) {
                Closest::Intersection(_) => true,
                Closest::SinglePoint(p) => haversine_m(p, center) <= metres,
                Closest::Indeterminate => false,
            }
        }
    }
}

fn within(g: &Geometry<f64>, area: &MultiPolygon<f64>) -> bool {
    match g {
        Geometry::Point(p) => area.0.iter().any(|a| a.contains(p)),
        Geometry::MultiPoint(mp) => mp.0.iter().all(|p| area.0.iter().any(|a| a.contains(p))),
        Geometry::Polygon(poly) => area.0.iter().any(|a| a.contains(poly)),
        Geometry::MultiPolygon(mp) => {
            mp.0.iter()
                .all(|poly| area.0.iter().any(|a| a.contains(poly)))
        }
        Geometry::LineString(l) => area.0.iter().any(|a| a.contains(l)),
        Geometry::MultiLineString(ml) => ml.0.iter().all(|l| area.0.iter().any(|a| a.contains(l))),
        Geometry::GeometryCollection(gc) => {
            !gc.0.is_empty() && gc.0.iter().all(|g| within(g, area))
        }
        _ => false,
    }
}

fn contains(g: &Geometry<f64>, inner: &Geometry<f64>) -> bool {
    match g {
        Geometry::Polygon(poly) => poly.contains(inner),
        Geometry::MultiPolygon(mp) => mp.0.iter().any(|poly| poly.contains(inner)),
        Geometry::GeometryCollection(gc) => gc.0.iter().any(|g| contains(g, inner)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
        Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        )
    }

    #[test]
    fn tokens_are_pinned() {
        let p = Geometry::Point(Point::new(0.0, 0.0));
        let toks = index_tokens(&p);
        // One cover cell at the finest level, and its 21 cells from there to the root.
        assert_eq!(toks.len(), 1 + 21);
        let half = 1u32 << (MAX_LEVEL - 1);
        let mut want = vec![0x05, b'c', MAX_LEVEL];
        want.extend_from_slice(&half.to_be_bytes());
        want.extend_from_slice(&half.to_be_bytes());
        assert!(toks.contains(&want));
        assert!(toks.contains(&vec![0x05, b'p', 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn geojson_parses() {
        let g =
            parse_geojson(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#)
                .unwrap();
        assert!(matches!(g, Geometry::Polygon(_)));
        assert!(parse_geojson(r#"{"type":"Point","coordinates":[1]}"#).is_err());
        assert!(parse_geojson(r#"{"type":"Polygon","coordinates":[[[0,0],[1,1]]]}"#).is_err());
    }

    #[test]
    fn haversine_is_in_metres() {
        // One degree of latitude is about 111.2 km.
        let d = haversine_m(Point::new(0.0, 0.0), Point::new(0.0, 1.0));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        // San Francisco to Los Angeles, about 559 km.
        let d = haversine_m(
            Point::new(-122.4194, 37.7749),
            Point::new(-118.2437, 34.0522),
        );
        assert!((d - 559_000.0).abs() < 2_000.0, "{d}");
    }

    #[test]
    fn queries_check_exactly() {
        let area = MultiPolygon(vec![square(0.0, 0.0, 10.0, 10.0)]);
        let inside = Geometry::Point(Point::new(5.0, 5.0));
        let outside = Geometry::Point(Point::new(15.0, 5.0));
        assert!(GeoQuery::Within(area.clone()).matches(&inside));
        assert!(!GeoQuery::Within(area.clone()).matches(&outside));
        let poly = Geometry::Polygon(square(1.0, 1.0, 2.0, 2.0));
        assert!(GeoQuery::Within(area.clone()).matches(&poly));
        assert!(GeoQuery::Contains(Geometry::Point(Point::new(1.5, 1.5))).matches(&poly));
        assert!(!GeoQuery::Contains(Geometry::Point(Point::new(3.0, 1.5))).matches(&poly));
        assert!(
            GeoQuery::Intersects(MultiPolygon(vec![square(1.5, 1.5, 5.0, 5.0)])).matches(&poly)
        );
        let near = GeoQuery::Near {
            center: Point::new(0.0, 0.0),
            metres: 120_000.0,
        };
        assert!(near.matches(&Geometry::Point(Point::new(0.0, 1.0))));
        assert!(!near.matches(&Geometry::Point(Point::new(0.0, 1.2))));
        // Across the antimeridian: 22 km apart.
        let east = GeoQuery::Near {
            center: Point::new(179.9, 0.0),
            metres: 30_000.0,
        };
        let west = Geometry::Point(Point::new(-179.9, 0.0));
        assert!(east.matches(&west));
        assert!(shares_token(&index_tokens(&west), &east.tokens()));
        // A polygon whose edge passes within range.
        assert!(near.matches(&Geometry::Polygon(square(0.5, -1.0, 3.0, 1.0))));
    }

    fn shares_token(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
        a.iter().any(|t| b.contains(t))
    }

    proptest! {
        #[test]
        fn a_point_in_a_region_shares_a_cell(
            x0 in -180.0f64..180.0, y0 in -90.0f64..90.0,
            w in 0.0f64..40.0, h in 0.0f64..40.0,
            fx in 0.0f64..=1.0, fy in 0.0f64..=1.0,
        ) {
            let (x1, y1) = ((x0 + w).min(180.0), (y0 + h).min(90.0));
            let region = Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 });
            let p = Point::new(x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy);
            prop_assert!(shares_token(&index_tokens(&Geometry::Point(p)), &region_tokens(&region)));
        }

        #[test]
        fn overlapping_polygons_share_a_cell(
            x0 in -170.0f64..170.0, y0 in -80.0f64..80.0, w in 0.0001f64..10.0, h in 0.0001f64..10.0,
            dx in -1.0f64..1.0, dy in -1.0f64..1.0, s in 0.01f64..2.0,
        ) {
            let a = square(x0, y0, x0 + w, y0 + h);
            // b overlaps a's box: its corner lies inside a.
            let (bx, by) = (x0 + w * (dx.abs()), y0 + h * (dy.abs()));
            let b = square(bx, by, bx + w * s, by + h * s);
            let q = GeoQuery::Intersects(MultiPolygon(vec![b]));
            prop_assert!(shares_token(&index_tokens(&Geometry::Polygon(a)), &q.tokens()));
        }

        #[test]
        fn near_never_misses_a_point(
            cx in -180.0f64..180.0, cy in -85.0f64..85.0, metres in 1.0f64..500_000.0,
            bearing in 0.0f64..360.0, frac in 0.0f64..=1.0,
        ) {
            // A point at distance frac * metres from the center along a bearing.
            let d = frac * metres / EARTH_RADIUS_M;
            let (la1, lo1, b) = (cy.to_radians(), cx.to_radians(), bearing.to_radians());
            let la2 = (la1.sin() * d.cos() + la1.cos() * d.sin() * b.cos()).asin();
            let lo2 = lo1 + (b.sin() * d.sin() * la1.cos()).atan2(d.cos() - la1.sin() * la2.sin());
            // Longitudes past the antimeridian wrap to the other side.
            let p = Point::new((lo2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0, la2.to_degrees());
            let q = GeoQuery::Near { center: Point::new(cx, cy), metres: metres * 1.0001 };
            prop_assert!(q.matches(&Geometry::Point(p)));
            prop_assert!(shares_token(&index_tokens(&Geometry::Point(p)), &q.tokens()));
        }
    }
}
