internal import COpenSSL
internal import CCertVaultShims

/// A key held by OpenSSL (an RSA key pair, or a public key read from a certificate); one owner
/// of the `EVP_PKEY`.
///
/// OpenSSL clears the private key's numbers when the key is freed.
final class EVPKey {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// Generates a fresh key of `bits` bits (public exponent 65537) from OpenSSL's CSPRNG.
    static func generate(bits: Int) throws -> EVPKey {
        OpenSSLError.clearQueue()
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw OpenSSLError.failure("create an RSA key-generation context")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
            throw OpenSSLError.failure("set up RSA-\(bits) key generation")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw OpenSSLError.failure("generate an RSA-\(bits) key")
        }
        return EVPKey(taking: key)
    }

    /// The modulus size in bits.
    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// True when this is an RSA key.
    var isRSA: Bool { EVP_PKEY_get_base_id(pointer) == EVP_PKEY_RSA }

    /// The SubjectPublicKeyInfo in DER, to compare keys without touching private parts.
    func publicKeyDER() throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pointer, &out)
        guard length > 0, let out else { throw OpenSSLError.failure("encode a public key") }
        defer { CCertVaultShims_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
