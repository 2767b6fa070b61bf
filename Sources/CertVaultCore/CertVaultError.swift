/// An error from any part of certvault.
///
/// Every error carries a ``Code`` that callers can match on, a reason that says what was wrong,
/// a hint that says what to do about it, and, where a C library was involved, that library's own
/// text (OpenSSL's error queue, for example). None of these ever contains a secret: code that
/// builds an error passes names, paths and sizes, never passwords or key bytes.
public struct CertVaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. An open set: new codes may be added in any release.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable, machine-readable name of the code (for example `invalid-tenant-id`).
        public let name: String

        /// Creates a code with a stable name.
        public init(_ name: String) { self.name = name }

        public var description: String { name }

        /// A tenant id is empty, too long, or has characters outside the safe set.
        public static let invalidTenantID = Code("invalid-tenant-id")
        /// A policy file is missing, unreadable, malformed, or asks for something not allowed.
        public static let invalidPolicy = Code("invalid-policy")
        /// A template names a variable that was not given a value.
        public static let missingTemplateValue = Code("missing-template-value")
        /// A subject attribute's rendered value breaks X.509's rules (length, characters).
        public static let invalidSubject = Code("invalid-subject")
        /// A supplied password is empty, too short, or cannot be encoded in PKCS#12.
        public static let invalidPassword = Code("invalid-password")
        /// A secret could not be read from its file, file descriptor, stdin or environment variable.
        public static let secretSourceUnreadable = Code("secret-source-unreadable")
        /// A PKCS#12 file could not be opened: wrong password, or damaged.
        public static let pkcs12Unreadable = Code("pkcs12-unreadable")
        /// An input file (CSV, certificate) is malformed.
        public static let invalidInput = Code("invalid-input")
        /// A file or folder could not be created, written or renamed.
        public static let fileSystem = Code("file-system")
        /// Output already exists and would be overwritten.
        public static let alreadyExists = Code("already-exists")
        /// A file or folder has permissions that expose secrets.
        public static let insecurePermissions = Code("insecure-permissions")
        /// OpenSSL reported a failure that input validation did not anticipate.
        public static let cryptoFailure = Code("crypto-failure")
        /// The shared store (PostgreSQL) could not be reached or did not answer in time; nothing was
        /// changed by the failed call, and the same call can be tried again (the service answers 503).
        public static let storageUnavailable = Code("storage-unavailable")
        /// The vault's keyring changed (another replica rotated the KEK) after this handle sealed
        /// an entry under it; nothing was stored. The vault reloads the keyring and seals again.
        public static let keyringChanged = Code("keyring-changed")
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong, in a sentence a user understands.
    public let reason: String
    /// What to do about it, if anything can be done.
    public let hint: String?
    /// The text of the C library that failed (OpenSSL's error queue, an errno string), if any.
    public let underlying: String?

    /// Creates an error. Never pass a secret in any of the strings.
    public init(_ code: Code, _ reason: String, hint: String? = nil, underlying: String? = nil) {
        self.code = code
        self.reason = reason
        self.hint = hint
        self.underlying = underlying
    }

    public var description: String {
        var text = reason
        if let underlying, !underlying.isEmpty { text += " (\(underlying))" }
        if let hint, !hint.isEmpty { text += "\n  hint: \(hint)" }
        return text
    }
}
