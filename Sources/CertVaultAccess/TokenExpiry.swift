internal import CertVaultCore

/// How long a new token lives: `90d`, `12h`, `30m`, or `none` (no expiry).
public enum TokenExpiry {
    /// The longest finite lifetime: 1,095 days (three years). Longer is more likely a typo than a
    /// plan; a token that should never expire says `none`, so that the choice is visible.
    public static let maximumSeconds: Int64 = 1_095 * 86_400

    /// Parses a lifetime into seconds; `nil` for `none`.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` for anything but a whole number of at least one with
    ///   the unit `d`, `h` or `m`, or a lifetime longer than ``maximumSeconds``.
    public static func parse(_ text: String) throws -> Int64? {
        if text == "none" { return nil }
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60]
        guard let unit = text.last, let multiplier = units[unit], text.count >= 2, text.count <= 9,
            text.dropLast().allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text.dropLast()), value >= 1
        else {
            throw CertVaultError(
                .invalidInput, "Invalid token lifetime \(DisplayText.escapingControls(text, limit: 40)).",
                hint: "Give a whole number with a unit, such as 90d (days), 12h (hours) or 30m (minutes), or 'none'.")
        }
        let seconds = value * multiplier
        guard seconds <= maximumSeconds else {
            throw CertVaultError(
                .invalidInput, "A token lifetime of \(text) is longer than the maximum of 1095d (three years).",
                hint: "Choose a shorter lifetime and re-issue before it ends, or 'none' for a token that never expires.")
        }
        return seconds
    }
}
