import CertVaultCore

/// An `application/x-www-form-urlencoded` body or query string, parsed by hand so that a secret
/// field (the sign-in's API token) goes from the request's bytes into ``SecretBytes`` without ever
/// being a `String`.
struct AdminForm: Sendable {
    /// The fields that are not secret, decoded; the first value of a repeated name wins.
    private(set) var fields: [String: String] = [:]
    /// The secret fields asked for, in secure memory.
    private(set) var secrets: [String: SecretBytes] = [:]

    /// Parses `bytes`; the values of the names in `secretNames` go to ``secrets`` (the temporary
    /// decoded copy is wiped).
    init(_ bytes: some Collection<UInt8>, secretNames: Set<String> = []) {
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard var nameBytes = Self.decode(parts[0]) else { continue }
            let name = String(decoding: nameBytes, as: UTF8.self)
            SecureWipe.wipe(&nameBytes)
            guard var value = Self.decode(parts.count > 1 ? Array(parts[1]) : []) else { continue }
            if secretNames.contains(name) {
                if secrets[name] == nil { secrets[name] = value.withUnsafeBytes { SecretBytes(copying: $0) } }
                SecureWipe.wipe(&value)
            } else if fields[name] == nil {
                fields[name] = String(decoding: value, as: UTF8.self)
            }
        }
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// Percent-decoding with `+` as space; nil for a broken escape.
    static func decode(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): out.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    SecureWipe.wipe(&out)
                    return nil
                }
                out.append(high << 4 | low)
            default: out.append(byte)
            }
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
