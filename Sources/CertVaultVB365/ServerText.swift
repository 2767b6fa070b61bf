public import CertVaultCore

/// Text from a VB365 server made fit to keep in a record and show to a person.
///
/// A server can echo what it was sent (a request body with the PFX password and the base64
/// PFX, a form with the VB365 password) in its error message, and can put terminal control
/// sequences into anything. Before such text is stored or printed, ``clean(_:limit:)``:
/// 1. cuts out every secret this client sent or holds, as sent (raw, JSON-escaped or
///    form-encoded), replaced by `<redacted>`;
/// 2. replaces every run of 64 or more base64 characters by `<base64, N characters>` (a PFX,
///    or part of one, whatever its source);
/// 3. escapes control characters and cuts the text short (``DisplayText``).
public struct VB365ServerText {
    private let secrets: [SecretBytes]
    private let strings: [String]

    /// - Parameters:
    ///   - secrets: secrets in secure memory (the VB365 password, PFX passwords).
    ///   - strings: other things not to repeat (tokens, base64 PFX files).
    public init(secrets: [SecretBytes], strings: [String]) {
        self.secrets = secrets
        self.strings = strings
    }

    /// The cleaned text, at most `limit` characters (plus "…" when cut).
    public func clean(_ text: String, limit: Int) -> String {
        var bytes = Array(text.utf8)
        defer { SecureWipe.wipe(&bytes) }
        for secret in secrets where secret.count >= 4 {
            secret.withUnsafeBytes { Self.redactVariants(of: $0, in: &bytes) }
        }
        for string in strings where string.utf8.count >= 4 {
            Array(string.utf8).withUnsafeBytes { Self.redactVariants(of: $0, in: &bytes) }
        }
        Self.collapseBase64(&bytes)
        return DisplayText.escapingControls(String(decoding: bytes, as: UTF8.self), limit: limit)
    }

    private static let marker = Array("<redacted>".utf8)

    /// Redacts `secret` as it is, JSON-escaped and form-encoded.
    static func redactVariants(of secret: UnsafeRawBufferPointer, in bytes: inout [UInt8]) {
        redact(secret, in: &bytes)
        var escaped: [UInt8] = []
        VB365JSONBody.escape(secret) { escaped.append($0) }
        if !escaped.elementsEqual(secret) { escaped.withUnsafeBytes { redact($0, in: &bytes) } }
        SecureWipe.wipe(&escaped)
        var form = VB365Client.formEncode(bytes: secret)
        if !form.elementsEqual(secret) { form.withUnsafeBytes { redact($0, in: &bytes) } }
        SecureWipe.wipe(&form)
    }

    /// Replaces every occurrence of `needle` in `bytes` by `<redacted>`.
    static func redact(_ needle: UnsafeRawBufferPointer, in bytes: inout [UInt8]) {
        guard needle.count > 0, bytes.count >= needle.count else { return }
        var out: [UInt8] = []
        var index = 0
        var changed = false
        while index < bytes.count {
            if index + needle.count <= bytes.count, bytes[index] == needle[0],
               (0..<needle.count).allSatisfy({ bytes[index + $0] == needle[$0] }) {
                out += marker
                index += needle.count
                changed = true
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        guard changed else { return }
        SecureWipe.wipe(&bytes)
        bytes = out
    }

    /// Runs of at least 64 base64 characters become `<base64, N characters>`.
    static func collapseBase64(_ bytes: inout [UInt8]) {
        func isBase64(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "-"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
        var out: [UInt8] = []
        var index = 0
        var changed = false
        while index < bytes.count {
            var end = index
            while end < bytes.count && isBase64(bytes[end]) { end += 1 }
            if end - index >= 64 {
                out += Array("<base64, \(end - index) characters>".utf8)
                changed = true
                index = end
            } else if end > index {
                out += bytes[index..<end]
                index = end
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        guard changed else { return }
        SecureWipe.wipe(&bytes)
        bytes = out
    }
}

/// Microsoft's device-login pages, where a device code's `verificationUrl` may send the
/// customer. Sources (docs/vb365-simulator.md): Microsoft's device-code flow documentation
/// (`https://microsoft.com/devicelogin`), its national-cloud endpoint list
/// (`login.microsoftonline.us`, `login.chinacloudapi.cn`, `login.microsoftonline.de`), and
/// Microsoft's authentication libraries (`microsoft.com/deviceloginus`, `.../deviceloginchina`).
public enum VB365DeviceLogin {
    /// The entries (`host` or `host/path-prefix`) accepted for a region.
    public static func defaultHosts(for region: VB365Region) -> [String] {
        let worldwide = ["microsoft.com/devicelogin", "www.microsoft.com/devicelogin", "login.microsoftonline.com", "login.microsoft.com"]
        switch region {
        case .worldwide: return worldwide
        case .usGovernment, .usDefence:
            return worldwide + ["microsoft.com/deviceloginus", "www.microsoft.com/deviceloginus", "login.microsoftonline.us"]
        case .china: return ["microsoft.com/deviceloginchina", "www.microsoft.com/deviceloginchina", "login.chinacloudapi.cn",
                             "login.partner.microsoftonline.cn"]
        case .germany: return worldwide + ["login.microsoftonline.de"]
        }
    }

    /// Whether `url` is https, without user info or an unusual port, on an allowed host and,
    /// where the entry has one, under its path prefix (case-insensitive).
    public static func isAllowed(_ url: String, hosts: [String]) -> Bool {
        let lower = url.lowercased()
        guard lower.hasPrefix("https://") else { return false }
        let rest = lower.dropFirst("https://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@"), !authority.isEmpty else { return false }
        var host = authority
        if let colon = authority.lastIndex(of: ":") {
            guard authority[authority.index(after: colon)...] == "443" else { return false }
            host = authority[..<colon]
        }
        var path = String(rest[authorityEnd...])
        if path.isEmpty { path = "/" }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else { return false }
        for entry in hosts {
            let parts = entry.lowercased().split(separator: "/", maxSplits: 1)
            guard let entryHost = parts.first, entryHost == host else { continue }
            guard parts.count == 2 else { return true }
            let prefix = "/" + parts[1]
            // "/devicelogin" allows "/devicelogin", "/devicelogin/..." and "/devicelogin?...", not "/deviceloginevil".
            if path == prefix || path.hasPrefix(prefix + "/") || path.hasPrefix(prefix + "?") || path.hasPrefix(prefix + "#") { return true }
        }
        return false
    }
}
