internal import CSodium
internal import CertVaultCore

/// XChaCha20-Poly1305 (IETF), libsodium's `crypto_aead_xchacha20poly1305_ietf`: the only cipher
/// the vault uses. Keys are 32 bytes, nonces 24 random bytes, tags 16 bytes.
enum AEAD {
    static let keyBytes = 32
    static let nonceBytes = 24
    static let tagBytes = 16

    /// A fresh random nonce.
    static func nonce() -> [UInt8] {
        SodiumRuntime.ensureInitialized()
        var nonce = [UInt8](repeating: 0, count: nonceBytes)
        randombytes_buf(&nonce, nonceBytes)
        return nonce
    }

    /// Encrypts `plaintext` (secret) under `key`, binding `associatedData`.
    static func seal(_ plaintext: SecretBytes, key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        precondition(key.count == keyBytes && nonce.count == nonceBytes)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLength: UInt64 = 0
        plaintext.withUnsafeBytes { message in
            key.withUnsafeBytes { keyBytes in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    &out, &outLength, message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                    associatedData, UInt64(associatedData.count), nil, nonce, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }

    /// Encrypts bytes that are not secret (metadata) without a secure-memory copy.
    static func seal(plain plaintext: [UInt8], key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLength: UInt64 = 0
        key.withUnsafeBytes { keyBytes in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &outLength, plaintext, UInt64(plaintext.count), associatedData,
                                                           UInt64(associatedData.count), nil, nonce,
                                                           keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }

    /// Decrypts bytes that are not secret (metadata) into ordinary memory; nil when anything is wrong.
    static func openPlain(_ ciphertext: ArraySlice<UInt8>, key: SecretBytes, nonce: ArraySlice<UInt8>, associatedData: [UInt8]) -> [UInt8]? {
        guard ciphertext.count >= tagBytes, key.count == keyBytes, nonce.count == nonceBytes else { return nil }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var outLength: UInt64 = 0
        let ok = key.withUnsafeBytes { keyBytes in
            Array(ciphertext).withUnsafeBufferPointer { c in
                Array(nonce).withUnsafeBufferPointer { n in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(&out, &outLength, nil, c.baseAddress!, UInt64(c.count), associatedData,
                                                               UInt64(associatedData.count), n.baseAddress!,
                                                               keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
                }
            }
        }
        return ok ? out : nil
    }

    /// Decrypts into secure memory; nil when the key, nonce, data or associated data is wrong.
    static func open(_ ciphertext: ArraySlice<UInt8>, key: SecretBytes, nonce: ArraySlice<UInt8>, associatedData: [UInt8]) -> SecretBytes? {
        guard ciphertext.count >= tagBytes, key.count == keyBytes, nonce.count == nonceBytes else { return nil }
        var ok = false
        let nonce = Array(nonce)
        let ciphertext = Array(ciphertext)
        let plaintext = SecretBytes(count: ciphertext.count - tagBytes) { out in
            var outLength: UInt64 = 0
            key.withUnsafeBytes { keyBytes in
                ok = crypto_aead_xchacha20poly1305_ietf_decrypt(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    &outLength, nil, ciphertext, UInt64(ciphertext.count), associatedData, UInt64(associatedData.count),
                    nonce, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
            }
        }
        return ok ? plaintext : nil
    }

    /// BLAKE2b-256 keyed with `key` (libsodium's `crypto_generichash`), for MACs and key derivation.
    static func keyedHash(_ message: [UInt8], key: SecretBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { keyBytes in
            _ = crypto_generichash(&out, 32, message, UInt64(message.count), keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                   keyBytes.count)
        }
        return out
    }

    /// BLAKE2b-256 keyed with `key` over the concatenation of `parts`, without joining them.
    static func keyedHash(parts: [ArraySlice<UInt8>], key: SecretBytes) -> [UInt8] {
        // The state type is declared 64-byte aligned in C, so Swift sees it as opaque.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        defer {
            sodium_memzero(raw, crypto_generichash_statebytes())
            raw.deallocate()
        }
        let state = OpaquePointer(raw)
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { keyBytes in
            _ = crypto_generichash_init(state, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count, 32)
        }
        for part in parts {
            part.withUnsafeBufferPointer { _ = crypto_generichash_update(state, $0.baseAddress, UInt64($0.count)) }
        }
        _ = crypto_generichash_final(state, &out, 32)
        return out
    }

    /// Compares two MACs in hex in constant time (for equal lengths).
    static func equalHex(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        return sodium_memcmp(x, y, x.count) == 0
    }

    /// A 32-byte subkey: BLAKE2b-256 keyed with `key` over a purpose label.
    static func deriveKey(from key: SecretBytes, purpose: String) -> SecretBytes {
        let message = Array(purpose.utf8)
        return SecretBytes(count: 32) { out in
            key.withUnsafeBytes { keyBytes in
                _ = crypto_generichash(out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32, message, UInt64(message.count),
                                       keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count)
            }
        }
    }
}

/// Big-endian binary encoding for the vault's files.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append(_ data: [UInt8]) { bytes += data }
    mutating func append(_ data: ArraySlice<UInt8>) { bytes += data }
    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { bytes += withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    mutating func u64(_ value: UInt64) { bytes += withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
}

/// Reads what ``ByteWriter`` wrote; every read is bounds-checked.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }
    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw FormatError.truncated(at: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func u8() throws(FormatError) -> UInt8 { try take(1).first! }

    mutating func u32() throws(FormatError) -> UInt32 {
        try take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws(FormatError) -> UInt64 {
        try take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func i64() throws(FormatError) -> Int64 { Int64(bitPattern: try u64()) }
}

/// Why bytes do not parse as a vault file.
enum FormatError: Error {
    case truncated(at: Int)

    var message: String {
        switch self {
        case .truncated(let offset): "it ends early (at byte \(offset))"
        }
    }
}
