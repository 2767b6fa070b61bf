internal import CertVaultCore

/// How long a new invitation link works: `7d`, `48h`, `30m`; at most 90 days, never unlimited.
public enum InvitationLifetime {
    /// Parses a lifetime into seconds.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` for anything but a whole number of at least one with
    ///   the unit `d`, `h` or `m`, or more than 90 days.
    public static func parse(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60]
        guard let unit = text.last, let multiplier = units[unit], text.count >= 2, text.count <= 9,
            text.dropLast().allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text.dropLast()), value >= 1
        else {
            throw CertVaultError(
                .invalidInput, "Invalid invitation lifetime \(DisplayText.escapingControls(text, limit: 40)).",
                hint: "Give a whole number with a unit, such as 7d (days), 48h (hours) or 30m (minutes); an invitation always "
                    + "expires.")
        }
        let seconds = value * multiplier
        guard seconds <= InvitationStore.maximumLifetimeSeconds else {
            throw CertVaultError(
                .invalidInput, "An invitation lifetime of \(text) is longer than the maximum of 90d.",
                hint: "Choose 90d or less; send a new invitation if the customer needs longer.")
        }
        return seconds
    }
}
