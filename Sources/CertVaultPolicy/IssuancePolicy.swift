internal import CertVaultCore

/// Everything that decides how a tenant's certificate is made: key, signature, subject,
/// validity, extensions, PKCS#12 encryption, password rules and the renewal window.
///
/// Policies are read from TOML files in `policy/` with ``PolicyLoader``; `docs/policy.md`
/// documents every key. Every field has a default equal to `policy/default.toml`, except the
/// subject, which each policy must spell out.
public struct IssuancePolicy: Hashable, Sendable {
    /// The policy's name, shown in summaries and kept with each issued certificate.
    public var name: String
    /// RSA modulus size in bits: 2048, 3072 or 4096.
    public var keyBits: Int
    /// The signature digest.
    public var digest: Digest
    /// Days from issuance to notAfter.
    public var validityDays: Int
    /// Seconds that notBefore is set in the past, for clients whose clocks run behind.
    public var backdateSeconds: Int
    /// Length of the serial number in bits (65 to 159): the top bit is set, the rest are random.
    public var serialBits: Int
    /// Subject attributes in the order they appear in the distinguished name.
    public var subject: [SubjectAttribute]
    /// The PKCS#12 friendly name of the key and certificate.
    public var friendlyName: Template
    /// X.509 extensions.
    public var extensions: Extensions
    /// PKCS#12 encryption.
    public var pkcs12: PKCS12Settings
    /// Rules for PFX passwords.
    public var password: PasswordRules
    /// Days before notAfter at which rotation considers a certificate due.
    public var renewBeforeDays: Int

    /// Signature digests Microsoft Entra ID accepts.
    public enum Digest: String, CaseIterable, Hashable, Sendable {
        case sha256, sha384, sha512
    }

    /// One attribute of the subject's distinguished name.
    public struct SubjectAttribute: Hashable, Sendable {
        /// The attribute's short name.
        public var type: AttributeType
        /// Its value, which may use template variables.
        public var value: Template

        /// Creates an attribute.
        public init(type: AttributeType, value: Template) {
            self.type = type
            self.value = value
        }
    }

    /// The distinguished-name attributes a policy may use, with X.509's upper bounds.
    public enum AttributeType: String, CaseIterable, Hashable, Sendable {
        case C, ST, L, O, OU, CN

        /// The most characters RFC 5280 allows for the attribute.
        public var maximumLength: Int {
            switch self {
            case .C: 2
            case .ST, .L: 128
            case .O, .OU, .CN: 64
            }
        }

        /// The attribute's long name, for messages.
        public var longName: String {
            switch self {
            case .C: "countryName"
            case .ST: "stateOrProvinceName"
            case .L: "localityName"
            case .O: "organizationName"
            case .OU: "organizationalUnitName"
            case .CN: "commonName"
            }
        }

        /// Checks a rendered value against X.509's rules for this attribute.
        ///
        /// - Returns: nil when the value is acceptable, else what is wrong with it.
        public func problem(with value: String) -> String? {
            if value.isEmpty { return "\(rawValue) is empty" }
            // Control characters, and bidi overrides and line separators that would disguise the
            // name wherever it is shown (certificate viewers, Entra ID, terminals).
            if let scalar = value.unicodeScalars.first(where: DisplayText.needsEscape) {
                return "\(rawValue) contains a control character (\(DisplayText.escapingControls(String(scalar))))"
            }
            if self == .C {
                let letters = value.unicodeScalars.allSatisfy { $0.value >= 0x41 && $0.value <= 0x5A }
                return value.unicodeScalars.count == 2 && letters
                    ? nil : "C must be a two-letter upper-case ISO 3166 country code such as 'US', not '\(value)'"
            }
            // X.509's bounds count characters as code points (as OpenSSL checks them), not graphemes.
            let length = value.unicodeScalars.count
            if length > maximumLength {
                return "\(rawValue) is \(length) characters long; X.509 allows at most \(maximumLength)"
            }
            return nil
        }
    }

    /// Choices of X.509 v3 extensions.
    public struct Extensions: Hashable, Sendable {
        /// keyUsage bits; always contains `digitalSignature`.
        public var keyUsage: [KeyUsage]
        /// Whether keyUsage is marked critical.
        public var keyUsageCritical: Bool
        /// extendedKeyUsage purposes; empty means the extension is left out.
        public var extendedKeyUsage: [ExtendedKeyUsage]
        /// Whether to add a subject key identifier (SHA-1 of the public key).
        public var subjectKeyIdentifier: Bool
        /// Whether to add an authority key identifier (equal to the subject's, as it is self-signed).
        public var authorityKeyIdentifier: Bool

        /// Creates extension choices.
        public init(keyUsage: [KeyUsage], keyUsageCritical: Bool, extendedKeyUsage: [ExtendedKeyUsage],
                    subjectKeyIdentifier: Bool, authorityKeyIdentifier: Bool) {
            self.keyUsage = keyUsage
            self.keyUsageCritical = keyUsageCritical
            self.extendedKeyUsage = extendedKeyUsage
            self.subjectKeyIdentifier = subjectKeyIdentifier
            self.authorityKeyIdentifier = authorityKeyIdentifier
        }
    }

    /// keyUsage bits a policy may ask for, spelled as OpenSSL and RFC 5280 spell them.
    public enum KeyUsage: String, CaseIterable, Hashable, Sendable {
        case digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement
    }

    /// extendedKeyUsage purposes a policy may ask for.
    public enum ExtendedKeyUsage: String, CaseIterable, Hashable, Sendable {
        case clientAuth, serverAuth, codeSigning, emailProtection
    }

    /// PKCS#12 (PFX) encryption settings.
    public struct PKCS12Settings: Hashable, Sendable {
        /// The encryption profile.
        public var profile: PKCS12Profile
        /// Key-derivation iterations for the key and certificate bags.
        public var iterations: Int
        /// Key-derivation iterations for the integrity MAC.
        public var macIterations: Int

        /// Creates PKCS#12 settings.
        public init(profile: PKCS12Profile, iterations: Int, macIterations: Int) {
            self.profile = profile
            self.iterations = iterations
            self.macIterations = macIterations
        }
    }

    /// How the PFX is encrypted.
    public enum PKCS12Profile: String, CaseIterable, Hashable, Sendable {
        /// 3DES (`pbeWithSHA1And3-KeyTripleDES-CBC`) for both bags and a SHA-1 MAC: imports on
        /// every Windows version VB365 supports, Windows Server 2016 included.
        case compat
        /// AES-256-CBC with PBKDF2/HMAC-SHA256 for both bags and a SHA-256 MAC: Windows Server
        /// 2019 or later.
        case modern
    }

    /// Rules for PFX passwords.
    public struct PasswordRules: Hashable, Sendable {
        /// Length of generated passwords (characters from ``PasswordRules/alphabet``).
        public var length: Int
        /// Whether a user may supply their own password instead of a generated one.
        public var allowSupplied: Bool
        /// The shortest supplied password accepted, in characters.
        public var minimumSuppliedLength: Int

        /// Creates password rules.
        public init(length: Int, allowSupplied: Bool, minimumSuppliedLength: Int) {
            self.length = length
            self.allowSupplied = allowSupplied
            self.minimumSuppliedLength = minimumSuppliedLength
        }

        /// The characters generated passwords use: ASCII letters and digits without the
        /// look-alikes `0 O 1 I l`. They need no quoting in shells or JSON and encode one-to-one
        /// in PKCS#12's BMPString.
        public static let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789".utf8)
    }

    /// The limits that validation enforces, shared with the documentation.
    public enum Limits {
        public static let keyBits = [2048, 3072, 4096]
        public static let validityDays = 1...3650 * 3
        public static let backdateSeconds = 0...86_400
        public static let serialBits = 65...159
        /// .NET (and so VB365) refuses PFX files whose iteration count exceeds 600,000.
        public static let iterations = 2_048...600_000
        public static let passwordLength = 24...128
        public static let minimumSuppliedLength = 8...128
        public static let renewBeforeDays = 1...3650
    }

    /// The built-in defaults; `policy/default.toml` spells out the same values.
    public static let defaults = IssuancePolicy(
        name: "default",
        keyBits: 2048,
        digest: .sha256,
        validityDays: 730,
        backdateSeconds: 300,
        serialBits: 127,
        subject: [],
        friendlyName: try! Template("{org} VB365 Tenant"),
        extensions: Extensions(
            keyUsage: [.digitalSignature],
            keyUsageCritical: true,
            extendedKeyUsage: [.clientAuth],
            subjectKeyIdentifier: true,
            authorityKeyIdentifier: true
        ),
        pkcs12: PKCS12Settings(profile: .compat, iterations: 10_000, macIterations: 10_000),
        password: PasswordRules(length: 32, allowSupplied: true, minimumSuppliedLength: 16),
        renewBeforeDays: 60
    )
}
