internal import COpenSSL
internal import CertVaultPolicy
internal import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Builds and signs a self-signed X.509 v3 certificate with OpenSSL.
struct CertificateBuilder {
    var subject: [(type: IssuancePolicy.AttributeType, value: String)]
    var serialBits: Int
    var notBefore: Int64
    var notAfter: Int64
    var digest: IssuancePolicy.Digest
    var extensions: IssuancePolicy.Extensions
    /// subjectAltName entries in OpenSSL's spelling (`DNS:localhost`, `IP:127.0.0.1`); only for
    /// TLS server certificates (the simulator's), empty for tenant certificates.
    var subjectAltNames: [String] = []

    func build(signingWith key: EVPKey) throws -> X509Certificate {
        OpenSSLError.clearQueue()
        guard let raw = X509_new() else { throw OpenSSLError.failure("allocate a certificate") }
        let certificate = X509Certificate(taking: raw)
        let x = certificate.pointer

        guard X509_set_version(x, Int(X509_VERSION_3)) == 1 else { throw OpenSSLError.failure("set the certificate version") }
        try setRandomSerial(x)
        guard ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter)) != nil
        else { throw OpenSSLError.failure("set the validity period") }

        guard let name = X509_NAME_new() else { throw OpenSSLError.failure("allocate a name") }
        defer { X509_NAME_free(name) }
        for attribute in subject {
            let added = Array(attribute.value.utf8).withUnsafeBufferPointer { bytes in
                X509_NAME_add_entry_by_txt(name, attribute.type.rawValue, MBSTRING_UTF8, bytes.baseAddress, Int32(bytes.count), -1, 0)
            }
            guard added == 1 else {
                throw OpenSSLError.failure("add \(attribute.type.rawValue) to the subject", code: .invalidSubject,
                                           hint: "Check the [subject] values of the policy.")
            }
        }
        // Self-signed: the issuer is the subject.
        guard X509_set_subject_name(x, name) == 1, X509_set_issuer_name(x, name) == 1 else {
            throw OpenSSLError.failure("set the subject and issuer names")
        }
        guard X509_set_pubkey(x, key.pointer) == 1 else { throw OpenSSLError.failure("set the public key") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, x, x, nil, nil, 0)
        // Lets authorityKeyIdentifier be computed from the key even without a subjectKeyIdentifier.
        guard X509V3_set_issuer_pkey(&context, key.pointer) == 1 else { throw OpenSSLError.failure("set the issuer key") }
        try add(NID_basic_constraints, "critical,CA:FALSE", to: x, context: &context)
        let usage = extensions.keyUsage.map(\.rawValue).joined(separator: ",")
        try add(NID_key_usage, (extensions.keyUsageCritical ? "critical," : "") + usage, to: x, context: &context)
        if !extensions.extendedKeyUsage.isEmpty {
            try add(NID_ext_key_usage, extensions.extendedKeyUsage.map(\.rawValue).joined(separator: ","), to: x, context: &context)
        }
        if !subjectAltNames.isEmpty {
            try add(NID_subject_alt_name, subjectAltNames.joined(separator: ","), to: x, context: &context)
        }
        if extensions.subjectKeyIdentifier {
            try add(NID_subject_key_identifier, "hash", to: x, context: &context)
        }
        if extensions.authorityKeyIdentifier {
            try add(NID_authority_key_identifier, "keyid:always", to: x, context: &context)
        }

        guard X509_sign(x, key.pointer, Self.messageDigest(digest)) > 0 else {
            throw OpenSSLError.failure("sign the certificate with \(digest.rawValue)")
        }
        return certificate
    }

    static func messageDigest(_ digest: IssuancePolicy.Digest) -> OpaquePointer {
        switch digest {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }

    private func setRandomSerial(_ x: OpaquePointer) throws {
        guard let bignum = BN_new() else { throw OpenSSLError.failure("allocate a serial number") }
        defer { BN_free(bignum) }
        // Top bit set: the serial has exactly `serialBits` bits, is positive and never zero.
        guard BN_rand(bignum, Int32(serialBits), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1,
            let serial = X509_get_serialNumber(x), BN_to_ASN1_INTEGER(bignum, serial) != nil
        else { throw OpenSSLError.failure("set a random serial number") }
    }

    private func add(_ nid: Int32, _ value: String, to x: OpaquePointer, context: inout X509V3_CTX) throws {
        guard let extensionObject = X509V3_EXT_nconf_nid(nil, &context, nid, value) else {
            throw OpenSSLError.failure("build the \(String(cString: OBJ_nid2ln(nid))) extension")
        }
        defer { X509_EXTENSION_free(extensionObject) }
        guard X509_add_ext(x, extensionObject, -1) == 1 else {
            throw OpenSSLError.failure("add the \(String(cString: OBJ_nid2ln(nid))) extension")
        }
    }
}
