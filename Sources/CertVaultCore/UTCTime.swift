#if canImport(Glibc)
internal import Glibc
#endif

/// UTC timestamps in ISO 8601, without Foundation's formatters (which are slow to create and
/// not documented as thread-safe on Linux).
public enum UTCTime {
    /// Seconds since 1970 now.
    public static func now() -> Int64 { Int64(time(nil)) }

    /// `YYYY-MM-DD`.
    public static func date(_ seconds: Int64) -> String {
        String(decoding: format(seconds, withTime: false), as: UTF8.self)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public static func dateTime(_ seconds: Int64) -> String {
        String(decoding: format(seconds, withTime: true), as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (what ``dateTime(_:)`` writes) back to seconds; nil otherwise.
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm), no time zone involved.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// The earliest and latest instants written: 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    /// Anything outside is written as the nearest of the two, never trapped on: a value from
    /// outside (a server's `expiresIn`) must not be able to stop the process.
    public static let representable: ClosedRange<Int64> = -62_167_219_200...253_402_300_799

    /// Formats into bytes directly: `list` formats one timestamp per entry.
    private static func format(_ seconds: Int64, withTime: Bool) -> [UInt8] {
        let parts = components(min(max(seconds, representable.lowerBound), representable.upperBound))
        var out = [UInt8]()
        out.reserveCapacity(20)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = min(max(value, 0), divisor * 10 - 1)
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        if withTime {
            out.append(UInt8(ascii: "T"))
            digits(Int(parts.tm_hour), 2)
            out.append(UInt8(ascii: ":"))
            digits(Int(parts.tm_min), 2)
            out.append(UInt8(ascii: ":"))
            digits(Int(parts.tm_sec), 2)
            out.append(UInt8(ascii: "Z"))
        }
        return out
    }

    private static func components(_ seconds: Int64) -> tm {
        var value = time_t(seconds)
        var parts = tm()
        gmtime_r(&value, &parts)
        return parts
    }

}
