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
    /// The RSA public exponent (65537 for every key certvault makes), nil for other keys.
    public let keyPublicExponent: Int?
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
        let pkcs12 = try Self.decode(pfx, context: nil)
        defer { PKCS12_free(pkcs12) }
        // Before any key derivation: a file can ask for billions of iterations.
        var limits = PKCS12Limits()
        try limits.checkBeforeDecrypting(pkcs12)

        guard PKCS12_mac_present(pkcs12) == 1 else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX has no integrity MAC, so nothing proves it was not altered.",
                                 hint: "Export it again with a MAC (openssl pkcs12 -export without -nomac).")
        }
        // A PFX made with an absent (NULL) password needs NULL, not "", to verify.
        var noPassword = false
        var macOK = password.withUnsafeCString { PKCS12_verify_mac(pkcs12, $0, -1) == 1 }
        if !macOK && password.isEmpty {
            macOK = PKCS12_verify_mac(pkcs12, nil, 0) == 1
            noPassword = macOK
        }
        guard macOK else {
            throw CertVaultError(.pkcs12Unreadable, "The PFX password is wrong, or the file is damaged (its MAC does not verify).",
                                 hint: "Check the password source; a trailing space or a different password file is a common cause.",
                                 underlying: OpenSSLError.drainQueue())
        }
        func withPassword<R>(_ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
            noPassword ? try body(nil) : try password.withUnsafeCString { try body($0) }
        }

        var keyPointer: OpaquePointer?
        var certificatePointer: OpaquePointer?
        var chain: OpaquePointer?
        func parse(_ pkcs12: OpaquePointer) throws -> Bool {
            var limits = limits  // each attempt counts the inner keys afresh
            return try withPassword { pass in
                try limits.checkInsideEncryptedParts(pkcs12, password: pass)
                return PKCS12_parse(pkcs12, pass, &keyPointer, &certificatePointer, &chain) == 1
            }
        }
        var parsed = try parse(pkcs12)
        if !parsed, let legacy = LegacyProvider.context {
            // RC2-40 and friends (older OpenSSL's defaults) live in OpenSSL 3's legacy provider,
            // which is loaded into a library context of its own and used for this file only.
            OpenSSLError.clearQueue()
            let legacyPKCS12 = try Self.decode(pfx, context: legacy)
            defer { PKCS12_free(legacyPKCS12) }
            parsed = try parse(legacyPKCS12)
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
        keyPublicExponent = key.rsaPublicExponent
        keyMatchesCertificate = certificate.matches(key)
        thumbprintSHA1 = Hex.upper(try certificate.digest(EVP_sha1()))
        extraCertificateCount = chain.map { Int(CCertVaultShims_sk_X509_num($0)) } ?? 0
    }
}

extension PKCS12Contents {
    /// Parses the DER of a PFX into a PKCS12 object bound to `context` (nil: OpenSSL's default
    /// library context), which every later step on it (MAC, decryption, key) then uses.
    static func decode(_ pfx: [UInt8], context: OpaquePointer?) throws -> OpaquePointer {
        try pfx.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            var pkcs12: OpaquePointer? = context.flatMap { PKCS12_init_ex(NID_pkcs7_data, $0, nil) }
            if context != nil && pkcs12 == nil { throw OpenSSLError.failure("set up a PKCS#12 structure") }
            guard let parsed = d2i_PKCS12(&pkcs12, &cursor, buffer.count) else {
                if let pkcs12 { PKCS12_free(pkcs12) }
                throw CertVaultError(.pkcs12Unreadable, "The file is not a PKCS#12 (PFX) file, or it is truncated.",
                                     hint: "Check that you gave the .pfx/.p12 file itself, not its base64 or PEM form.",
                                     underlying: OpenSSLError.drainQueue())
            }
            return parsed
        }
    }
}

/// OpenSSL 3's legacy provider (RC2, RC4, single DES...), for reading old PFX files only.
///
/// It is never loaded into the process's default library context, so nothing else certvault
/// does (issuing, the vault's TLS, the VB365 client) can pick a legacy algorithm. It lives in a
/// library context of its own, with the default provider beside it, created on first use.
enum LegacyProvider {
    private static let shared: LibraryContext? = LibraryContext.withLegacy()

    /// The legacy library context, or nil when the legacy provider is not installed.
    static var context: OpaquePointer? { shared?.pointer }

    /// True when the legacy provider is available in the process's default library context
    /// (it never should be: tests check this).
    static var isInDefaultContext: Bool { OSSL_PROVIDER_available(nil, "legacy") == 1 }

    private final class LibraryContext: @unchecked Sendable {
        let pointer: OpaquePointer

        private init(_ pointer: OpaquePointer) { self.pointer = pointer }

        static func withLegacy() -> LibraryContext? {
            guard let context = OSSL_LIB_CTX_new() else { return nil }
            // Loading only "legacy" would leave the context without SHA-2, AES or the PKCS#12 KDF.
            guard OSSL_PROVIDER_load(context, "default") != nil, OSSL_PROVIDER_load(context, "legacy") != nil else {
                OSSL_LIB_CTX_free(context)
                OpenSSLError.clearQueue()
                return nil
            }
            // Kept for the life of the process; the providers go with the context.
            return LibraryContext(context)
        }
    }
}
