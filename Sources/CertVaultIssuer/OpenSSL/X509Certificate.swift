internal import COpenSSL
internal import CCertVaultShims
internal import CertVaultCore

/// An X.509 certificate held by OpenSSL; one owner of the `X509`.
final class X509Certificate {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { X509_free(pointer) }

    /// The DER encoding.
    func der() throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &out)
        guard length > 0, let out else { throw OpenSSLError.failure("encode the certificate as DER") }
        defer { CCertVaultShims_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The PEM encoding (`-----BEGIN CERTIFICATE-----`).
    func pem() throws -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_X509(bio.pointer, pointer) == 1 else { throw OpenSSLError.failure("encode the certificate as PEM") }
        return String(decoding: bio.bytes, as: UTF8.self)
    }

    /// A digest of the DER encoding (SHA-1 is the thumbprint Entra ID and VB365 show).
    func digest(_ md: OpaquePointer) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(pointer, md, &buffer, &length) == 1 else { throw OpenSSLError.failure("hash the certificate") }
        return Array(buffer.prefix(Int(length)))
    }

    /// The serial number as upper-case hex, as `openssl x509 -serial` prints it.
    func serialHex() throws -> String {
        guard let serial = X509_get0_serialNumber(pointer), let bignum = ASN1_INTEGER_to_BN(serial, nil) else {
            throw OpenSSLError.failure("read the serial number")
        }
        defer { BN_free(bignum) }
        guard let hex = BN_bn2hex(bignum) else { throw OpenSSLError.failure("format the serial number") }
        defer { CCertVaultShims_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// The friendly name (PKCS#12 alias) attached to the certificate, if any.
    var alias: String? {
        var length: Int32 = 0
        guard let bytes = X509_alias_get0(pointer, &length), length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
    }

    /// The localKeyID attached to the certificate, if any.
    var localKeyID: [UInt8]? {
        var length: Int32 = 0
        guard let bytes = X509_keyid_get0(pointer, &length), length > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: bytes, count: Int(length)))
    }

    /// The public key, as a key object of its own.
    func publicKey() throws -> EVPKey {
        guard let key = X509_get_pubkey(pointer) else { throw OpenSSLError.failure("read the certificate's public key") }
        return EVPKey(taking: key)
    }

    /// True when `key` is the private key of this certificate.
    func matches(_ key: EVPKey) -> Bool {
        let result = X509_check_private_key(pointer, key.pointer) == 1
        OpenSSLError.clearQueue()
        return result
    }
}
