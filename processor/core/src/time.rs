//! Timestamps: CloudTrail's RFC 3339 (`2023-07-10T11:42:36Z`) and the forms records
//! take when exported from log platforms (`2022-09-29 22:25:17`, fractional seconds,
//! offsets), to and from Unix seconds, without a date-time dependency on the hot path.
//! Whatever form is read, times are reported in RFC 3339 UTC ([`format_rfc3339`]).

/// Parses an RFC 3339 timestamp, or the forms SIEM exports write, into Unix seconds
/// (fractions are dropped: the second that holds the instant).
///
/// `YYYY-MM-DD` then `T`, `t` or one space, `HH:MM:SS`, an optional fraction
/// (`.` or `,` and 1 to 9 digits), then a zone: `Z`/`z`, `+HH:MM`/`-HH:MM`, `+HHMM`,
/// ` UTC`/` GMT`, or none (UTC: CloudTrail times are UTC, and exports that drop the
/// zone keep the value). Leap second `:60` is read as the next second. Anything else,
/// or an impossible date or time, gives `None`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
    }
    let zone = &b[i..];
    let offset = match zone {
        [] | [b'Z' | b'z'] | b" UTC" | b" GMT" | b" Z" => 0,
        [sign @ (b'+' | b'-'), ..] if (zone.len() == 6 && zone[3] == b':') || zone.len() == 5 => {
            let m_at = if zone.len() == 6 { 4 } else { 3 };
            let (h, m) = (num(i + 1..i + 3)?, num(i + m_at..i + m_at + 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let o = h * 3600 + m * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithm (public-domain description).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2023-07-10T11:42:36Z"), Some(1_688_989_356));
        assert_eq!(
            parse_rfc3339("2023-07-10T11:42:36.123Z"),
            Some(1_688_989_356)
        );
        assert_eq!(
            parse_rfc3339("2023-07-10T13:42:36+02:00"),
            Some(1_688_989_356)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(format_rfc3339(1_688_989_356), "2023-07-10T11:42:36Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2023-07-10",
            "2023-13-10T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-07-10T11:42:36Zx",
            "2023-07-1OT11:42:36Z",
            "2023-07-10T11:42:36.Z",
            "2023-07-10T11:42:36+2:00",
            "2023-07-10T11:42:36+02:0",
            "2023-07-10T11:42:36+24:00",
            "2023-07-10T11:42:36 PST",
            "2023-07-10T11:42:36.1234567890Z",
            "2023-07-10  11:42:36",
            "2023-07-10_11:42:36",
            "Mon, 10 Jul 2023 11:42:36 GMT",
            "1688989356",
            "2023-07-10T25:42:36Z",
            "2023-07-10T11:42:36 UTCx",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn siem_export_forms() {
        let t = 1_664_490_317; // 2022-09-29T22:25:17Z
        for s in [
            "2022-09-29 22:25:17",
            "2022-09-29T22:25:17",
            "2022-09-29 22:25:17.000",
            "2022-09-29 22:25:17.999999",
            "2022-09-29 22:25:17,5",
            "2022-09-29 22:25:17 UTC",
            "2022-09-29T22:25:17.123456789Z",
            "2022-09-29T22:25:17+00:00",
            "2022-09-30T00:25:17+02:00",
            "2022-09-30T00:25:17+0200",
            "2022-09-29T17:25:17-05:00",
            "2022-09-29t22:25:17z",
        ] {
            assert_eq!(parse_rfc3339(s), Some(t), "{s}");
        }
        assert_eq!(format_rfc3339(t), "2022-09-29T22:25:17Z");
    }

    #[test]
    fn round_trip_over_a_range() {
        let mut t = -5_000_000_000i64;
        while t < 5_000_000_000 {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
            t += 86_399 * 37;
        }
    }
}
