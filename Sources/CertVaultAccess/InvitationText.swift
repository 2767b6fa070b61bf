internal import CSodium
public import CertVaultCore

/// The layout of an invitation token, the last part of the link `…/onboard/<token>`:
/// `cvi_` + id (16 lower-case hex digits, 64 random bits, public) + `_` + secret (32 bytes from
/// libsodium's `randombytes_buf`, 256 bits, URL-safe base64 without padding, 43 characters);
/// 64 characters in all, safe in a URL path without escaping.
///
/// The id makes the lookup one dictionary access; the whole text is hashed with BLAKE2b-256 keyed
/// with the store's hash key and compared with the stored hash in constant time (``TokenText``).
public enum InvitationText {
    static let prefix = Array("cvi_".utf8)
    static let idLength = 16
    static let secretBytes = 32
    static let secretLength = 43
    /// The length of a token: 64 characters.
    public static let length = 4 + idLength + 1 + secretLength

    /// The id of a well-formed invitation token.
    ///
    /// - Throws: ``CertVaultError`` `malformed-invitation-token` saying which rule the text breaks
    ///   (length, prefix, id, characters of the secret part), never repeating the text.
    public static func id(of token: SecretBytes) throws -> String {
        try token.withUnsafeBytes { raw throws(CertVaultError) -> String in
            func malformed(_ why: String) -> CertVaultError {
                CertVaultError(
                    .malformedInvitationToken, "That is not an invitation token: \(why).",
                    hint: "An invitation token is the last part of the link 'certvault invite' printed: 'cvi_', 16 hex digits, "
                        + "'_' and 43 letters, digits, '-' or '_' (64 characters). Copy it whole, or create a new invitation.")
            }
            guard raw.count == length else { throw malformed("it is \(raw.count) characters long, not \(length)") }
            guard raw.prefix(4).elementsEqual(prefix) else { throw malformed("it does not begin with 'cvi_'") }
            let id = raw[4..<(4 + idLength)]
            guard id.allSatisfy(isLowerHex), raw[4 + idLength] == UInt8(ascii: "_") else {
                throw malformed("the 16 characters after 'cvi_' are not lower-case hex digits followed by '_'")
            }
            // Checking the alphabet of the secret part branches on secret bytes; that reveals only
            // whether the text is well formed, which the caller learns anyway.
            var valid = true
            for byte in raw[(5 + idLength)...] {
                let ok =
                    (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                valid = valid && ok
            }
            guard valid else { throw malformed("its secret part has characters outside letters, digits, '-' and '_'") }
            return String(decoding: id, as: UTF8.self)
        }
    }

    /// Whether `text` is shaped like an invitation token (`cvi_` and 60 more characters): for refusing
    /// one where an id belongs, without repeating it.
    public static func looksLikeToken(_ text: String) -> Bool { text.hasPrefix("cvi_") && text.utf8.count > 4 + idLength }

    /// Whether `text` is an invitation id: 16 lower-case hex digits.
    public static func isValidID(_ text: String) -> Bool { text.utf8.count == idLength && text.utf8.allSatisfy(isLowerHex) }

    static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }

    /// A new token with `id`, built in secure memory.
    static func make(id: String) -> SecretBytes {
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
        let head = prefix + Array(id.utf8) + [UInt8(ascii: "_")]
        return SecretBytes(count: length) { out in
            out.copyBytes(from: head)
            encoded.withUnsafeBytes { raw in
                (out.baseAddress! + head.count).copyMemory(from: raw.baseAddress!, byteCount: secretLength)
            }
        }
    }
}
