public import CertVaultCore
internal import CertVaultPolicy

/// One issued certificate with everything VB365 and Entra ID need from it.
///
/// `description` shows no secret: the password is a ``SecretBytes``.
public struct IssuedCredential: Sendable {
    /// The tenant the certificate was issued for.
    public let tenant: TenantID
    /// The PKCS#12 (PFX) file: private key and certificate, encrypted with ``password``.
    public let pfx: [UInt8]
    /// The PFX password.
    public let password: SecretBytes
    /// True when the password was generated, false when the user supplied it.
    public let passwordGenerated: Bool
    /// The certificate in DER (the `.cer` an administrator uploads to Entra ID).
    public let certificateDER: [UInt8]
    /// The certificate in PEM.
    public let certificatePEM: String
    /// The summary facts.
    public let summary: CredentialSummary

    /// Base64 of the PFX with no line breaks: the value of `applicationCertificate` in
    /// `POST /vN/Organizations`.
    public var pfxBase64: String { Base64.encode(pfx) }
}

/// The facts about an issued certificate, safe to print, log and store in the clear.
public struct CredentialSummary: Sendable, Hashable, Codable {
    /// The tenant id.
    public let tenant: TenantID
    /// The PKCS#12 friendly name.
    public let friendlyName: String
    /// The subject, RFC 2253 style.
    public let subject: String
    /// The serial number, upper-case hex.
    public let serialNumber: String
    /// Start of validity, ISO 8601 UTC.
    public let notBefore: String
    /// End of validity, ISO 8601 UTC.
    public let notAfter: String
    /// SHA-1 of the DER certificate, upper-case hex: the thumbprint Entra ID and VB365 show.
    public let thumbprintSHA1: String
    /// SHA-256 of the DER certificate, upper-case hex.
    public let fingerprintSHA256: String
    /// RSA modulus size.
    public let keyBits: Int
    /// Signature digest.
    public let signatureDigest: String
    /// PKCS#12 encryption profile (`compat` or `modern`).
    public let pkcs12Profile: String
    /// PKCS#12 key-derivation iterations.
    public let pkcs12Iterations: Int
    /// The policy's name.
    public let policy: String
    /// `generated` or `supplied`.
    public let password: String
}

/// RFC 4648 base64 without line breaks.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((value >> UInt32(shift)) & 0x3F)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int((value >> 18) & 0x3F)])
            out.append(alphabet[Int((value >> 12) & 0x3F)])
            out.append(rest == 2 ? alphabet[Int((value >> 6) & 0x3F)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
