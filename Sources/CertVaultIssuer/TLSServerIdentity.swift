internal import COpenSSL
internal import CCertVaultShims
public import CertVaultCore
internal import CertVaultPolicy
internal import Foundation

/// A self-signed TLS server certificate and key made by our issuer, for the VB365 simulator
/// (and any other loopback server the tests run). Not for tenants: tenant certificates come
/// from ``Issuer`` under a policy.
public struct TLSServerIdentity: Sendable {
    /// The certificate in PEM: what a client gives as its CA file.
    public let certificatePEM: String
    /// The unencrypted PKCS#8 private key in PEM, in secure memory.
    public let privateKeyPEM: SecretBytes
    /// The public-key pin as curl spells it: `sha256//` + base64 of SHA-256 of the DER
    /// SubjectPublicKeyInfo.
    public let publicKeyPin: String
    /// SHA-1 of the DER certificate, upper-case hex.
    public let thumbprintSHA1: String
    /// SHA-256 of the DER certificate, upper-case hex (what `openssl x509 -fingerprint -sha256`
    /// shows, without the colons).
    public let fingerprintSHA256: String

    /// Makes a fresh RSA-2048 key and a certificate for `hosts` (names and IP addresses, all put
    /// in subjectAltName), valid for `days` days, with extendedKeyUsage serverAuth.
    public static func makeSelfSigned(commonName: String, hosts: [String], days: Int = 30) throws -> TLSServerIdentity {
        let key = try EVPKey.generate(bits: 2048)
        let now = Int64(Date().timeIntervalSince1970)
        var builder = CertificateBuilder(
            subject: [(type: .CN, value: commonName)], serialBits: 127, notBefore: now - 300, notAfter: now + Int64(days) * 86_400,
            digest: .sha256,
            extensions: .init(keyUsage: [.digitalSignature, .keyEncipherment], keyUsageCritical: true, extendedKeyUsage: [.serverAuth],
                              subjectKeyIdentifier: true, authorityKeyIdentifier: true))
        builder.subjectAltNames = hosts.map { host in
            host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? "IP:\(host)" : "DNS:\(host)"
        }
        let certificate = try builder.build(signingWith: key)

        let bio = try MemoryBIO()
        guard PEM_write_bio_PrivateKey(bio.pointer, key.pointer, nil, nil, 0, nil, nil) == 1 else {
            throw OpenSSLError.failure("encode the server key as PEM")
        }
        var keyBytes = bio.bytes
        let privateKey = keyBytes.withUnsafeBytes { SecretBytes(copying: $0) }
        // The array is the only other copy (the BIO's goes with it): overwrite it.
        OPENSSL_cleanse(&keyBytes, keyBytes.count)

        let spki = try key.publicKeyDER()
        var hash = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_Digest(spki, spki.count, &hash, &length, EVP_sha256(), nil) == 1 else {
            throw OpenSSLError.failure("hash the server's public key")
        }
        return TLSServerIdentity(
            certificatePEM: try certificate.pem(), privateKeyPEM: privateKey,
            publicKeyPin: "sha256//" + Base64.encode(Array(hash.prefix(Int(length)))),
            thumbprintSHA1: Hex.upper(try certificate.digest(EVP_sha1())),
            fingerprintSHA256: Hex.upper(try certificate.digest(EVP_sha256())))
    }

    /// SHA-256 of `bytes` (a DER certificate or SubjectPublicKeyInfo), for fingerprints and pins
    /// of certificates this type did not make (a TLS certificate given as files).
    public static func sha256(_ bytes: [UInt8]) throws -> [UInt8] {
        var hash = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_Digest(bytes, bytes.count, &hash, &length, EVP_sha256(), nil) == 1 else {
            throw OpenSSLError.failure("hash with SHA-256")
        }
        return Array(hash.prefix(Int(length)))
    }
}
