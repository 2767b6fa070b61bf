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
        let parts = components(seconds)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1))-\(pad(Int(parts.tm_mday)))"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public static func dateTime(_ seconds: Int64) -> String {
        let parts = components(seconds)
        return date(seconds) + "T\(pad(Int(parts.tm_hour))):\(pad(Int(parts.tm_min))):\(pad(Int(parts.tm_sec)))Z"
    }

    private static func components(_ seconds: Int64) -> tm {
        var value = time_t(seconds)
        var parts = tm()
        gmtime_r(&value, &parts)
        return parts
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
