internal import CSodium
internal import CertVaultCore

/// The layout of a token: `cvt_` + accessor (16 lowercase hex digits, 64 random bits, public) + `_` +
/// secret (32 bytes from libsodium's `randombytes_buf`, 256 bits, URL-safe base64 without padding,
/// 43 characters). 64 characters in all, safe in a header, a URL and a shell without quoting.
///
/// The accessor makes the lookup one dictionary access; the whole text is hashed with BLAKE2b-256
/// keyed with the store's hash key and compared to the stored hash with `sodium_memcmp`.
enum TokenText {
    static let prefix = Array("cvt_".utf8)
    static let accessorLength = 16
    static let secretBytes = 32
    static let secretLength = 43
    static let length = 4 + accessorLength + 1 + secretLength
    static let hashBytes = 32

    /// A new random accessor.
    static func newAccessor() -> String {
        SodiumRuntime.ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: accessorLength / 2)
        randombytes_buf(&bytes, bytes.count)
        return Hex.lower(bytes)
    }

    /// A new token with `accessor`, built in secure memory.
    static func make(accessor: String) -> SecretBytes {
        let random = SecretBytes.random(count: secretBytes)
        // sodium_bin2base64 writes a NUL after the text: encode into a buffer one longer, then copy.
        let encoded = SecretBytes(count: secretLength + 1) { out in
            random.withUnsafeBytes { raw in
                _ = sodium_bin2base64(
                    out.baseAddress!.assumingMemoryBound(to: CChar.self), out.count,
                    raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING)
            }
        }
        let head = prefix + Array(accessor.utf8) + [UInt8(ascii: "_")]
        return SecretBytes(count: length) { out in
            out.copyBytes(from: head)
            encoded.withUnsafeBytes { raw in
                (out.baseAddress! + head.count).copyMemory(from: raw.baseAddress!, byteCount: secretLength)
            }
        }
    }

    /// The accessor of a well-formed token, or nil. Reads only the public part's characters.
    static func accessor(of token: SecretBytes) -> String? {
        token.withUnsafeBytes { raw -> String? in
            guard raw.count == length, raw.prefix(4).elementsEqual(prefix), raw[4 + accessorLength] == UInt8(ascii: "_") else { return nil }
            let accessor = raw[4..<(4 + accessorLength)]
            guard accessor.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
            // Checking the alphabet of the secret part branches on secret bytes; that reveals only
            // whether the text is well formed, which the caller learns anyway (401).
            var valid = true
            for byte in raw[(5 + accessorLength)...] {
                let ok =
                    (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                valid = valid && ok
            }
            return valid ? String(decoding: accessor, as: UTF8.self) : nil
        }
    }

    /// BLAKE2b-256 of the whole token text keyed with `key`.
    static func hash(_ token: SecretBytes, key: SecretBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: hashBytes)
        token.withUnsafeBytes { message in
            key.withUnsafeBytes { keyBytes in
                _ = crypto_generichash(
                    &out, hashBytes, message.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                    keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count)
            }
        }
        return out
    }

    /// Constant-time equality of two hashes of the same length.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return sodium_memcmp(a, b, a.count) == 0
    }

    /// BLAKE2b-256 of `message` keyed with `key`: the store's MAC and its key derivations.
    static func keyedHash(_ message: [UInt8], key: SecretBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { keyBytes in
            _ = crypto_generichash(
                &out, 32, message, UInt64(message.count), keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                keyBytes.count)
        }
        return out
    }

    /// A 32-byte subkey of `key` for `purpose`.
    static func deriveKey(from key: SecretBytes, purpose: String) -> SecretBytes {
        let message = Array(purpose.utf8)
        return SecretBytes(count: 32) { out in
            key.withUnsafeBytes { keyBytes in
                _ = crypto_generichash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32, message, UInt64(message.count),
                    keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count)
            }
        }
    }
}
