/// The identifier of one customer tenant: the name its certificates and files are kept under.
///
/// Tenant ids become file and folder names, so they are restricted before any path is built:
/// 1 to 64 characters of lowercase ASCII letters, digits, `-`, `_` and `.`, starting and ending
/// with a letter or digit, with no `..`. `../../etc`, empty strings, whitespace, control
/// characters and upper case are refused with an error that says what is allowed.
public struct TenantID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The longest tenant id accepted.
    public static let maximumLength = 64

    /// The validated id.
    public let rawValue: String

    /// Validates `rawValue` as a tenant id.
    ///
    /// - Throws: ``CertVaultError`` with code ``CertVaultError/Code/invalidTenantID`` naming the
    ///   first rule the value breaks.
    public init(_ rawValue: String) throws {
        // The checks run for every index line `list` reads: no allocation unless one fails.
        func fail(_ why: String) -> CertVaultError {
            CertVaultError(
                .invalidTenantID,
                "Invalid tenant id \(TenantID.printable(rawValue)): \(why).",
                hint: "Use 1-\(TenantID.maximumLength) characters of a-z, 0-9, '-', '_' and '.', "
                    + "starting and ending with a letter or digit (for example 'contoso' or 'fabrikam-eu')."
            )
        }
        let bytes = rawValue.utf8
        guard !bytes.isEmpty else { throw fail("it is empty") }
        guard bytes.count <= TenantID.maximumLength else {
            throw fail("it is \(bytes.count) bytes long, more than \(TenantID.maximumLength)")
        }
        for byte in bytes where !TenantID.isAllowed(byte) {
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                throw fail("upper-case letters are not allowed (tenant ids are case-folded file names)")
            }
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") {
                throw fail("it contains a path separator")
            }
            if byte < 0x20 || byte == 0x7F { throw fail("it contains a control character") }
            if byte == UInt8(ascii: " ") { throw fail("it contains whitespace") }
            throw fail("it contains a character outside a-z, 0-9, '-', '_' and '.'")
        }
        guard TenantID.isAlphanumeric(bytes.first!), TenantID.isAlphanumeric(bytes.last!) else {
            throw fail("it must start and end with a letter or digit")
        }
        guard !zip(bytes, bytes.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) else {
            throw fail("it contains '..'")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static func < (lhs: TenantID, rhs: TenantID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }

    /// A short, quoted, escaped form of untrusted input, safe to put in an error message.
    public static func printable(_ value: String, limit: Int = 40) -> String {
        var out = ""
        var shownCount = 0
        for scalar in value.unicodeScalars {
            if shownCount == limit {
                out += "…"
                break
            }
            out += scalar.isASCII && scalar.value >= 0x20 && scalar.value != 0x7F
                ? String(scalar) : scalar.escaped(asASCII: true)
            shownCount += 1
        }
        let suffix = value.unicodeScalars.count > limit ? " (\(value.utf8.count) bytes)" : ""
        return "'\(out)'\(suffix)"
    }
}
