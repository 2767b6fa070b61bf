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

    /// Formats into bytes directly: `list` formats one timestamp per entry.
    private static func format(_ seconds: Int64, withTime: Bool) -> [UInt8] {
        let parts = components(seconds)
        var out = [UInt8]()
        out.reserveCapacity(20)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
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
