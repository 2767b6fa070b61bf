internal import COpenSSL
public import CertVaultCore
public import CertVaultPolicy
public import Logging

#if canImport(Glibc)
internal import Glibc
#endif

/// What to issue a certificate for.
public struct IssuanceRequest: Sendable {
    /// The tenant.
    public var tenant: TenantID
    /// The organisation's display name, for `{org}` (defaults to the tenant id).
    public var org: String?
    /// The Microsoft 365 domain, for `{domain}`.
    public var domain: String?
    /// A password the user supplied; nil to generate one.
    public var suppliedPassword: SecretBytes?
    /// Where the supplied password came from, for error messages.
    public var passwordSource: String

    /// Creates a request.
    public init(tenant: TenantID, org: String? = nil, domain: String? = nil,
                suppliedPassword: SecretBytes? = nil, passwordSource: String = "the supplied source") {
        self.tenant = tenant
        self.org = org
        self.domain = domain
        self.suppliedPassword = suppliedPassword
        self.passwordSource = passwordSource
    }
}

/// Issues one self-signed RSA certificate and its PKCS#12 file per tenant, following a policy.
///
/// All cryptography runs in-process on OpenSSL 3; nothing is spawned. An issuer is immutable
/// and safe to share between threads: bulk issuance runs one `issue` per core at once.
public struct Issuer: Sendable {
    /// The policy every certificate follows.
    public let policy: IssuancePolicy
    private let logger: Logger

    /// Creates an issuer for a policy; `logger` receives tenant ids and thumbprints, never secrets.
    public init(policy: IssuancePolicy, logger: Logger) {
        self.policy = policy
        self.logger = logger
    }

    /// Checks what can be checked before any key is generated: templates have their values,
    /// rendered subject attributes follow X.509's rules, a supplied password is acceptable.
    ///
    /// - Throws: ``CertVaultError`` (`missing-template-value`, `invalid-subject`, `invalid-password`).
    public func prepare(_ request: IssuanceRequest, now: Int64? = nil) throws -> PreparedIssuance {
        let now = now ?? Int64(time(nil))
        let values = TemplateValues(tenant: request.tenant, org: request.org, domain: request.domain,
                                    date: UTCTime.date(now))
        var subject: [(type: IssuancePolicy.AttributeType, value: String)] = []
        for attribute in policy.subject {
            let value = try attribute.value.render(values, for: "[subject] \(attribute.type.rawValue)")
            if let problem = attribute.type.problem(with: value) {
                throw CertVaultError(.invalidSubject, "Cannot issue for tenant '\(request.tenant)': \(problem).",
                                     hint: "Shorten or correct the value given for the template '\(attribute.value.source)'.")
            }
            subject.append((attribute.type, value))
        }
        let friendlyName = try policy.friendlyName.render(values, for: "friendly_name")
        if let problem = IssuancePolicy.AttributeType.CN.problem(with: friendlyName), !problem.contains("characters long") {
            throw CertVaultError(.invalidSubject, "The friendly name for '\(request.tenant)' is not usable: \(problem).")
        }
        // PKCS#12 stores the friendly name as a BMPString (UCS-2): a character outside Unicode's Basic
        // Multilingual Plane (an emoji, say) cannot be written, and OpenSSL would fail late and vaguely.
        if let outside = friendlyName.unicodeScalars.first(where: { $0.value > 0xFFFF }) {
            throw CertVaultError(
                .invalidSubject,
                "The friendly name for '\(request.tenant)' has the character U+\(String(outside.value, radix: 16, uppercase: true)), "
                    + "which a PKCS#12 friendly name (a BMPString) cannot hold.",
                hint: "Leave characters such as emoji out of the organization name, or change friendly_name in the policy.")
        }
        if let supplied = request.suppliedPassword {
            try PasswordFactory.validateSupplied(supplied, rules: policy.password, source: request.passwordSource)
        }
        return PreparedIssuance(request: request, subject: subject.map { PreparedIssuance.Attribute(type: $0.type, value: $0.value) },
                                friendlyName: friendlyName, now: now)
    }

    /// Generates the key, the certificate and the PFX for a prepared request.
    ///
    /// - Throws: ``CertVaultError`` `crypto-failure` when OpenSSL fails.
    public func issue(_ prepared: PreparedIssuance) throws -> IssuedCredential {
        try issue(prepared, afterKeyGeneration: nil)
    }

    /// Issues and reports how long key generation and the rest took, for the benchmark.
    package func issueMeasuringPhases(_ prepared: PreparedIssuance) throws -> (IssuedCredential, keyGeneration: Double, rest: Double) {
        let start = DispatchTimeSource.nanoseconds()
        var keyDone: UInt64 = 0
        let credential = try issue(prepared) { keyDone = DispatchTimeSource.nanoseconds() }
        _ = credential.pfxBase64
        let end = DispatchTimeSource.nanoseconds()
        return (credential, Double(keyDone - start) / 1e6, Double(end - keyDone) / 1e6)
    }

    private func issue(_ prepared: PreparedIssuance, afterKeyGeneration: (() -> Void)?) throws -> IssuedCredential {
        let request = prepared.request
        let key = try EVPKey.generate(bits: policy.keyBits)
        afterKeyGeneration?()
        let builder = CertificateBuilder(
            subject: prepared.subject.map { ($0.type, $0.value) },
            serialBits: policy.serialBits,
            notBefore: prepared.now - Int64(policy.backdateSeconds),
            notAfter: prepared.now + Int64(policy.validityDays) * 86_400,
            digest: policy.digest,
            extensions: policy.extensions
        )
        let certificate = try builder.build(signingWith: key)
        let password = request.suppliedPassword ?? PasswordFactory.generate(policy.password)
        let pfx = try PKCS12Builder.build(key: key, certificate: certificate, friendlyName: prepared.friendlyName,
                                          password: password, settings: policy.pkcs12)
        let summary = CredentialSummary(
            tenant: request.tenant,
            friendlyName: prepared.friendlyName,
            subject: prepared.subject.map { "\($0.type.rawValue)=\($0.value)" }.joined(separator: ", "),
            serialNumber: try certificate.serialHex(),
            notBefore: UTCTime.dateTime(builder.notBefore),
            notAfter: UTCTime.dateTime(builder.notAfter),
            thumbprintSHA1: Hex.upper(try certificate.digest(EVP_sha1())),
            fingerprintSHA256: Hex.upper(try certificate.digest(EVP_sha256())),
            keyBits: key.bits,
            signatureDigest: policy.digest.rawValue,
            pkcs12Profile: policy.pkcs12.profile.rawValue,
            pkcs12Iterations: policy.pkcs12.iterations,
            policy: policy.name,
            password: request.suppliedPassword == nil ? "generated" : "supplied"
        )
        logger.info("issued certificate", metadata: [
            "tenant": "\(request.tenant)", "thumbprint": "\(summary.thumbprintSHA1)", "serial": "\(summary.serialNumber)",
        ])
        return IssuedCredential(
            tenant: request.tenant, pfx: pfx, password: password, passwordGenerated: request.suppliedPassword == nil,
            certificateDER: try certificate.der(), certificatePEM: try certificate.pem(), summary: summary)
    }

    /// Prepares and issues in one step.
    public func issue(_ request: IssuanceRequest) throws -> IssuedCredential {
        try issue(try prepare(request))
    }
}

/// A request whose templates and password have been checked; issuing it can fail only in OpenSSL.
public struct PreparedIssuance: Sendable {
    struct Attribute: Sendable {
        let type: IssuancePolicy.AttributeType
        let value: String
    }

    /// The request.
    public let request: IssuanceRequest
    let subject: [Attribute]
    /// The rendered friendly name.
    public let friendlyName: String
    let now: Int64
}

/// A monotonic clock.
enum DispatchTimeSource {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

