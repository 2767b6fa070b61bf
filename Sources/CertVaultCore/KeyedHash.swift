internal import CSodium

/// BLAKE2b-256 keyed with a secret (libsodium's `crypto_generichash`), for MACs over short public
/// messages in the targets that do not link libsodium themselves (the portal's CSRF tokens).
public enum KeyedHash {
    /// The 32-byte BLAKE2b MAC of `message` under `key` (16 to 64 bytes).
    public static func blake2b(_ message: [UInt8], key: SecretBytes) -> [UInt8] {
        precondition((16...64).contains(key.count), "a BLAKE2b key has 16 to 64 bytes")
        SodiumRuntime.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { keyBytes in
            _ = crypto_generichash(
                &out, 32, message, UInt64(message.count), keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                keyBytes.count)
        }
        return out
    }

    /// Constant-time equality (`sodium_memcmp`) of two byte strings; lengths are not secret, and
    /// two empty strings are not equal (an absent MAC never matches).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return sodium_memcmp(a, b, a.count) == 0
    }
}
