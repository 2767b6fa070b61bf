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

    /// The RSA public exponent of every key certvault generates (F4).
    static let publicExponent = 65537

    /// Generates a fresh key of `bits` bits (public exponent 65537) from OpenSSL's CSPRNG.
    static func generate(bits: Int) throws -> EVPKey {
        OpenSSLError.clearQueue()
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw OpenSSLError.failure("create an RSA key-generation context")
        }
        defer { EVP_PKEY_CTX_free(context) }
        // The public exponent is set, not left to OpenSSL's default: Entra ID and Windows expect 65537.
        guard let exponent = BN_new() else { throw OpenSSLError.failure("allocate the RSA public exponent") }
        defer { BN_free(exponent) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1,
            BN_set_word(exponent, UInt(publicExponent)) == 1,
            EVP_PKEY_CTX_set1_rsa_keygen_pubexp(context, exponent) == 1
        else {
            throw OpenSSLError.failure("set up RSA-\(bits) key generation")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw OpenSSLError.failure("generate an RSA-\(bits) key")
        }
        return EVPKey(taking: key)
    }

    /// The RSA public exponent, or nil when the key is not RSA.
    var rsaPublicExponent: Int? {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pointer, "e", &number) == 1, let number else {
            OpenSSLError.clearQueue()
            return nil
        }
        defer { BN_free(number) }
        let word = BN_get_word(number)
        return word == UInt.max ? nil : Int(word)
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
