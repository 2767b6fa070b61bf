internal import COpenSSL
internal import CCertVaultShims
internal import CertVaultCore
internal import CertVaultPolicy

/// Writes a PKCS#12 (PFX) file holding one private key and its certificate.
///
/// Both bags carry the friendly name and a localKeyID (the SHA-1 of the certificate), which is
/// how Windows and Java pair the key with the certificate and name the entry.
enum PKCS12Builder {
    static func build(
        key: EVPKey,
        certificate: X509Certificate,
        friendlyName: String,
        password: SecretBytes,
        settings: IssuancePolicy.PKCS12Settings
    ) throws -> [UInt8] {
        OpenSSLError.clearQueue()
        let bagAlgorithm: Int32
        let macDigest: OpaquePointer
        switch settings.profile {
        case .compat:
            bagAlgorithm = NID_pbe_WithSHA1And3_Key_TripleDES_CBC
            macDigest = EVP_sha1()
        case .modern:
            // PBES2 with PBKDF2; OpenSSL 3 picks HMAC-SHA256 as the PRF.
            bagAlgorithm = NID_aes_256_cbc
            macDigest = EVP_sha256()
        }
        let pkcs12 = try password.withUnsafeCString { pass -> OpaquePointer in
            // mac_iter -1: no MAC yet; it is added below with an explicit digest, because
            // PKCS12_create's own choice of MAC digest differs between OpenSSL versions.
            guard let pkcs12 = PKCS12_create_ex(
                pass, friendlyName, key.pointer, certificate.pointer, nil,
                bagAlgorithm, bagAlgorithm, Int32(settings.iterations), -1, 0, nil, nil)
            else { throw OpenSSLError.failure("create the PKCS#12 structure") }
            guard PKCS12_set_mac(pkcs12, pass, -1, nil, 0, Int32(settings.macIterations), macDigest) == 1 else {
                PKCS12_free(pkcs12)
                throw OpenSSLError.failure("add the PKCS#12 integrity MAC")
            }
            return pkcs12
        }
        defer { PKCS12_free(pkcs12) }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PKCS12(pkcs12, &out)
        guard length > 0, let out else { throw OpenSSLError.failure("encode the PKCS#12 file") }
        defer { CCertVaultShims_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
