public import CertVaultCore

/// The secret content of one generation: what restores and onboarding need, sealed in its file.
public struct EntryPayload: Sendable {
    /// The PKCS#12 file.
    public var pfx: [UInt8]
    /// Its password.
    public var password: SecretBytes
    /// The certificate in DER.
    public var certificateDER: [UInt8]
    /// Facts about the certificate, as issued.
    public var facts: CertificateFacts

    /// Creates a payload.
    public init(pfx: [UInt8], password: SecretBytes, certificateDER: [UInt8], facts: CertificateFacts) {
        self.pfx = pfx
        self.password = password
        self.certificateDER = certificateDER
        self.facts = facts
    }

    /// Field tags of the payload's tag-length-value encoding (docs/vault-format.md).
    enum Tag: UInt8 {
        case pfx = 1, password = 2, certificate = 3, friendlyName = 4, thumbprintSHA1 = 5, fingerprintSHA256 = 6,
             serialNumber = 7, notBefore = 8, notAfter = 9, policy = 10, subject = 11
    }

    /// Encodes into secure memory: `tag (1) | length (4, big-endian) | value`, fields in tag order.
    func encode() -> SecretBytes {
        let texts: [(Tag, [UInt8])] = [
            (.certificate, certificateDER),
            (.friendlyName, Array(facts.friendlyName.utf8)),
            (.thumbprintSHA1, Array(facts.thumbprintSHA1.utf8)),
            (.fingerprintSHA256, Array(facts.fingerprintSHA256.utf8)),
            (.serialNumber, Array(facts.serialNumber.utf8)),
            (.notBefore, Array(facts.notBefore.utf8)),
            (.notAfter, Array(facts.notAfter.utf8)),
            (.policy, Array(facts.policy.utf8)),
            (.subject, Array(facts.subject.utf8)),
        ]
        let total = 5 + pfx.count + 5 + password.count + texts.reduce(0) { $0 + 5 + $1.1.count }
        return SecretBytes(count: total) { out in
            var offset = 0
            func field(_ tag: Tag, _ value: UnsafeRawBufferPointer) {
                out[offset] = tag.rawValue
                withUnsafeBytes(of: UInt32(value.count).bigEndian) { UnsafeMutableRawBufferPointer(rebasing: out[offset + 1..<offset + 5]).copyMemory(from: $0) }
                if value.count > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: out[offset + 5..<offset + 5 + value.count]).copyMemory(from: value)
                }
                offset += 5 + value.count
            }
            pfx.withUnsafeBytes { field(.pfx, $0) }
            password.withUnsafeBytes { field(.password, $0) }
            for (tag, value) in texts { value.withUnsafeBytes { field(tag, $0) } }
        }
    }

    /// Decodes; unknown tags are skipped so that newer fields do not break older readers.
    static func decode(_ plaintext: SecretBytes, file: String) throws -> EntryPayload {
        var pfx: [UInt8]?
        var password: SecretBytes?
        var certificate: [UInt8] = []
        var texts: [Tag: String] = [:]
        try plaintext.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                guard offset + 5 <= bytes.count else { throw VaultError.corrupt(file, "its payload ends inside a field header") }
                let tag = bytes[offset]
                let length = Int(bytes[offset + 1]) << 24 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
                guard length <= bytes.count - offset - 5 else { throw VaultError.corrupt(file, "a payload field runs past the end") }
                let value = UnsafeRawBufferPointer(rebasing: bytes[offset + 5..<offset + 5 + length])
                switch Tag(rawValue: tag) {
                case .pfx: pfx = Array(value)
                case .password: password = plaintext.slice((offset + 5)..<(offset + 5 + length))
                case .certificate: certificate = Array(value)
                case .some(let known): texts[known] = String(decoding: value, as: UTF8.self)
                case nil: break
                }
                offset += 5 + length
            }
        }
        guard let pfx, let password else { throw VaultError.corrupt(file, "its payload lacks the PFX or its password") }
        let facts = CertificateFacts(
            friendlyName: texts[.friendlyName] ?? "", thumbprintSHA1: texts[.thumbprintSHA1] ?? "",
            fingerprintSHA256: texts[.fingerprintSHA256] ?? "", serialNumber: texts[.serialNumber] ?? "",
            notBefore: texts[.notBefore] ?? "", notAfter: texts[.notAfter] ?? "", policy: texts[.policy] ?? "",
            subject: texts[.subject] ?? "")
        return EntryPayload(pfx: pfx, password: password, certificateDER: certificate, facts: facts)
    }
}

/// Facts about a stored certificate; none of them is secret.
public struct CertificateFacts: Sendable, Hashable, Codable {
    public var friendlyName: String
    public var thumbprintSHA1: String
    public var fingerprintSHA256: String
    public var serialNumber: String
    public var notBefore: String
    public var notAfter: String
    public var policy: String
    public var subject: String

    /// Creates the facts.
    public init(friendlyName: String, thumbprintSHA1: String, fingerprintSHA256: String, serialNumber: String,
                notBefore: String, notAfter: String, policy: String, subject: String) {
        self.friendlyName = friendlyName
        self.thumbprintSHA1 = thumbprintSHA1
        self.fingerprintSHA256 = fingerprintSHA256
        self.serialNumber = serialNumber
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.policy = policy
        self.subject = subject
    }
}

/// The mutable part of a generation: its status and what onboarding learns from VB365.
public struct EntryMetadata: Sendable, Hashable, Codable {
    /// A generation's status.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// In use.
        case active
        /// Replaced by a newer generation that VB365 accepted.
        case superseded
        /// Kept for restores of old backups but not used for new work.
        case retired
    }

    public var status: Status
    public var notAfter: String
    public var thumbprintSHA1: String
    public var vb365OrganizationID: String?
    public var applicationID: String?
    public var msid: String?
    public var region: String?
    public var onboardingState: String?

    /// Metadata for a freshly stored generation.
    public init(status: Status = .active, notAfter: String, thumbprintSHA1: String) {
        self.status = status
        self.notAfter = notAfter
        self.thumbprintSHA1 = thumbprintSHA1
    }
}
