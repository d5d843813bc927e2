//! The `Date` response header: the current time as an IMF-fixdate
//! (RFC 9110 §5.6.7, "Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once
//! a second per loop thread.
//!
//! Each loop thread keeps its own copy, so the hot path takes no lock and
//! touches no shared cache line: one clock read (a vDSO call, no system call)
//! and one comparison per batch of requests.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes in an IMF-fixdate.
pub(crate) const DATE_LEN: usize = 29;

/// An IMF-fixdate.
pub(crate) type HttpDate = [u8; DATE_LEN];

thread_local! {
    /// (the Unix second it was formatted for, the formatted date)
    static CACHED: Cell<(u64, HttpDate)> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// The current time as an HTTP date, reformatted only when the second changed.
pub(crate) fn now() -> HttpDate {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, date) = cached.get();
        if at == secs {
            return date;
        }
        let date = format(secs);
        cached.set((secs, date));
        date
    })
}

const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats seconds since the Unix epoch (UTC) as an IMF-fixdate. Years past
/// 9999 do not fit the format and are shown as 9999.
pub(crate) fn format(unix_secs: u64) -> HttpDate {
    let days = unix_secs / 86_400;
    let second_of_day = unix_secs % 86_400;
    let weekday = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday
    let (year, month, day) = civil_from_days(days);
    let year = year.min(9999);

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(WEEKDAYS[weekday]);
    two_digits(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    two_digits(&mut out[12..14], year / 100);
    two_digits(&mut out[14..16], year % 100);
    two_digits(&mut out[17..19], second_of_day / 3600);
    two_digits(&mut out[20..22], second_of_day / 60 % 60);
    two_digits(&mut out[23..25], second_of_day % 60);
    out
}

fn two_digits(dst: &mut [u8], n: u64) {
    dst[0] = b'0' + (n / 10 % 10) as u8;
    dst[1] = b'0' + (n % 10) as u8;
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01, by
/// Howard Hinnant's `civil_from_days` (exact for the proleptic Gregorian
/// calendar, no tables, no loops).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
