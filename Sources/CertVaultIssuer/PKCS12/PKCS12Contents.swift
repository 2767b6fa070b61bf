internal import COpenSSL
internal import CCertVaultShims
public import CertVaultCore

/// What a PKCS#12 (PFX) file holds, read with its password.
///
/// Used to check what certvault wrote and to take in PFX files that other tools made. The
/// private key stays inside OpenSSL and is freed when this value goes away; only facts about it
/// are exposed.
public struct PKCS12Contents: Sendable {
    /// The certificate in DER.
    public let certificateDER: [UInt8]
    /// The certificate's friendly name (the PKCS#12 alias), if it has one.
    public let friendlyName: String?
    /// The localKeyID attribute of the certificate bag, if present.
    public let localKeyID: [UInt8]?
    /// The private key's size in bits.
    public let keyBits: Int
    /// True when the private key is an RSA key.
    public let keyIsRSA: Bool
    /// True when the private key belongs to the certificate.
    public let keyMatchesCertificate: Bool
    /// Upper-case hex SHA-1 of the certificate.
    public let thumbprintSHA1: String
    /// Certificates besides the key's own (a chain), counted.
    public let extraCertificateCount: Int

    /// Opens a PFX.
    ///
    /// - Throws: ``CertVaultError`` `pkcs12-unreadable` when the bytes are not PKCS#12, the MAC
    ///   does not verify (wrong password, or damage), or no key or certificate is inside.
    public init(pfx: [UInt8], password: SecretBytes) throws {
        OpenSSLError.clearQueue()
        let pkcs12: OpaquePointer = try pfx.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let parsed = d2i_PKCS12(nil, &cursor, buffer.count) else {
                throw CertVaultError(.pkcs12Unreadable, "The file is not a PKCS#12 (PFX) file, or it is truncated.",
                                     hint: "Check that you gave the .pfx/.p12 file itself, not its base64 or PEM form.",
                                     underlying: OpenSSLError.drainQueue())
            }
            return parsed
        }
        defer { PKCS12_free(pkcs12) }

        guard PKCS12_mac_present(pkcs12) == 1 else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX has no integrity MAC, so nothing proves it was not altered.",
                                 hint: "Export it again with a MAC (openssl pkcs12 -export without -nomac).")
        }
        // A PFX made with an absent (NULL) password needs NULL, not "", to verify.
        var macOK = password.withUnsafeCString { PKCS12_verify_mac(pkcs12, $0, -1) == 1 }
        if !macOK && password.isEmpty { macOK = PKCS12_verify_mac(pkcs12, nil, 0) == 1 }
        guard macOK else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX password is wrong, or the file is damaged (its MAC does not verify).",
                                 hint: "Check the password source; a trailing space or a different password file is a common cause.",
                                 underlying: OpenSSLError.drainQueue())
        }

        var keyPointer: OpaquePointer?
        var certificatePointer: OpaquePointer?
        var chain: OpaquePointer?
        var parsed = password.withUnsafeCString { PKCS12_parse(pkcs12, $0, &keyPointer, &certificatePointer, &chain) == 1 }
        if !parsed && LegacyProvider.loadOnce() {
            // RC2-40 and friends (older OpenSSL's defaults) live in OpenSSL 3's legacy provider.
            OpenSSLError.clearQueue()
            parsed = password.withUnsafeCString { PKCS12_parse(pkcs12, $0, &keyPointer, &certificatePointer, &chain) == 1 }
        }
        guard parsed else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX could not be decrypted.",
                                 hint: "It may use an algorithm this OpenSSL does not offer.",
                                 underlying: OpenSSLError.drainQueue())
        }
        defer { if let chain { CCertVaultShims_sk_X509_pop_free(chain) } }
        guard let keyPointer else {
            if let certificatePointer { X509_free(certificatePointer) }
            throw CertVaultError(.pkcs12Unreadable, "The PFX holds no private key.",
                                 hint: "Export the certificate together with its private key.")
        }
        let key = EVPKey(taking: keyPointer)
        guard let certificatePointer else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX holds no certificate for its private key.")
        }
        let certificate = X509Certificate(taking: certificatePointer)
        certificateDER = try certificate.der()
        friendlyName = certificate.alias
        localKeyID = certificate.localKeyID
        keyBits = key.bits
        keyIsRSA = key.isRSA
        keyMatchesCertificate = certificate.matches(key)
        thumbprintSHA1 = Hex.upper(try certificate.digest(EVP_sha1()))
        extraCertificateCount = chain.map { Int(CCertVaultShims_sk_X509_num($0)) } ?? 0
    }
}

/// OpenSSL 3's legacy provider, loaded only when an old PFX needs it.
enum LegacyProvider {
    private static let loaded: Bool = {
        // Loading "legacy" replaces the implicit default provider, so load both.
        guard OSSL_PROVIDER_load(nil, "default") != nil, OSSL_PROVIDER_load(nil, "legacy") != nil else {
            OpenSSLError.clearQueue()
            return false
        }
        return true
    }()

    /// Loads the provider once per process; false when it is not installed.
    static func loadOnce() -> Bool { loaded }
}
