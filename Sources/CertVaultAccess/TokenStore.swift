public import CertVaultCore
public import CertVaultVault
internal import Foundation
public import Logging
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// The API tokens of one vault: created, listed and revoked by `certvault token`, resolved to grants
/// by the service once per request.
///
/// The file (default `<vault>/tokens`, mode 0600 in a 0700 folder) holds for every token its accessor,
/// name, scopes or policy, tenants, times, and a BLAKE2b-256 hash of the token keyed with a key derived
/// from the vault's root key, never the token. The whole file is authenticated with a MAC under a
/// second derived key, so nobody without the root key can add a token or widen one by editing it: an
/// altered file is refused (and the service does not start). docs/access.md describes the format.
///
/// Several processes may use one store: every change takes `flock` on `<store>.lock`, re-reads the
/// file, and replaces it atomically (temporary file, fsync, rename, fsync of the folder). A process
/// that holds the store open notices another's change at its next ``grant(for:now:)`` (one `stat` per
/// call) and reads the file again, so a revocation takes effect at once.
///
/// "Last used" is kept in memory and written at most every ``lastUsedFlushInterval`` seconds through
/// ``flushLastUsedIfDue(now:)`` (and at shutdown through ``flushLastUsed(now:)``), never on the request
/// path: ``grant(for:now:)`` never writes. Through the protocol these are ``TokenAuthority/flushIfDue(now:)``
/// and ``TokenAuthority/flush(now:)``.
public final class TokenStore: TokenAuthority, Sendable {
    /// Where the store is: its file's path, or the database row (``AccessDocumentBackend/location``).
    public let path: String
    /// Where the store's bytes are kept.
    public let backend: any AccessDocumentBackend
    /// Seconds between two writes of the "last used" times.
    public static let lastUsedFlushInterval: Int64 = 60
    /// The purpose with which the vault derives the store's key (see ``CertVaultVault/Vault/derivedKey(purpose:)``).
    public static let keyPurpose = "token store"

    let keys: TokenStoreKeys
    private let logger: Logger
    private let state: Mutex<State>

    struct LoadedToken: Sendable {
        let stored: StoredToken
        let hash: [UInt8]
        let scopes: Set<Scope>
        let tenants: TenantSelector?
    }

    struct State: Sendable {
        var tokens: [String: LoadedToken] = [:]
        var file = TokenStoreFile()
        var stamp: AccessDocumentVersion?
        var highestRevision: UInt64 = 0
        var pendingLastUsed: [String: Int64] = [:]
        var lastFlush: Int64 = 0
        var policies: AccessPolicySet
        var warnedMissingPolicy: Set<String> = []
    }

    /// Opens the store at `path` with the key `key` (32 bytes, derived from the vault's root key).
    /// A store that does not exist yet is empty; it is created by the first ``create(name:scopes:tenants:policy:expires:now:)``.
    ///
    /// - Parameter policies: the access policies that tokens bound to a policy take their grant from.
    /// - Throws: ``CertVaultError`` `token-store-corrupt` (altered or damaged), `token-store-wrong-key`
    ///   (another vault's store), `insecure-permissions` (the file or its folder open to other users),
    ///   `file-system`.
    public convenience init(
        path: String, key: SecretBytes, policies: AccessPolicySet = .empty,
        logger: Logger = Logger(label: "certvault.access", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try self.init(
            backend: FileAccessDocument(path: path, what: "token store", corruptCode: .tokenStoreCorrupt), key: key,
            policies: policies, logger: logger)
    }

    /// Opens the store kept by `backend` (a file, or the shared database's `tokens` row) with the key
    /// `key` (32 bytes, derived from the vault's root key). The bytes, their MAC and the rollback check
    /// are the same whatever keeps them.
    ///
    /// - Throws: the errors of ``init(path:key:policies:logger:)``; `storage-unavailable` from a database.
    public init(
        backend: any AccessDocumentBackend, key: SecretBytes, policies: AccessPolicySet = .empty,
        logger: Logger = Logger(label: "certvault.access", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        precondition(key.count == 32, "the token store's key is 32 bytes")
        self.path = backend.location
        self.backend = backend
        self.keys = TokenStoreKeys(key)
        self.logger = logger
        self.state = Mutex(State(policies: policies))
        if let (file, stamp) = try readDocument() {
            try state.withLock { state throws(CertVaultError) in try TokenStore.install(file, stamp: stamp, into: &state, path: path) }
        }
    }

    /// Opens the store of `vault` (at `path`, default `<vault>/tokens`) with a key the vault derives from
    /// its root key.
    ///
    /// - Throws: the errors of ``init(path:key:policies:logger:)``.
    public convenience init(
        vault: Vault, path: String? = nil, policies: AccessPolicySet = .empty,
        logger: Logger = Logger(label: "certvault.access", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try self.init(
            path: path ?? TokenStore.defaultPath(vault: vault.path), key: vault.derivedKey(purpose: TokenStore.keyPurpose),
            policies: policies, logger: logger)
    }

    /// The default store of the vault at `vaultPath`: `<vault>/tokens`.
    public static func defaultPath(vault vaultPath: String) -> String { "\(vaultPath)/tokens" }

    /// Replaces the access policies (after they were loaded again); takes effect at the next request.
    public func replacePolicies(_ policies: AccessPolicySet) {
        state.withLock { $0.policies = policies }
    }

    /// The access policies in use.
    public var policies: AccessPolicySet { state.withLock { $0.policies } }

    // MARK: Resolving tokens

    /// The grant of `token` at `now`, or nil when it is malformed, unknown, expired or revoked, or bound
    /// to a policy that no longer exists. One keyed BLAKE2b hash, a constant-time comparison and one
    /// `stat` of the file; never writes, never logs the token.
    ///
    /// - Throws: the errors of reading the store when another process changed it and the new file is
    ///   altered, rolled back or unreadable: then nothing is granted until it is repaired.
    public func grant(for token: SecretBytes, now: Int64) throws -> AccessGrant? {
        let accessor = TokenText.accessor(of: token)
        let hash = TokenText.hash(token, key: keys.hashKey)
        try refreshIfChanged()
        return state.withLock { state -> AccessGrant? in
            guard let accessor, let loaded = state.tokens[accessor], TokenText.equal(hash, loaded.hash) else { return nil }
            guard loaded.stored.revoked == nil else { return nil }
            if let expires = loaded.stored.expires, now >= expires { return nil }
            let grant: AccessGrant
            if let name = loaded.stored.policy {
                guard let policy = state.policies[name] else {
                    if state.warnedMissingPolicy.insert(accessor).inserted {
                        logger.warning(
                            "token bound to a missing access policy grants nothing",
                            metadata: ["accessor": "\(accessor)", "policy": "\(name)"])
                    }
                    return nil
                }
                grant = AccessGrant(accessor: accessor, name: loaded.stored.name, scopes: policy.scopes, tenants: policy.tenants)
            } else {
                grant = AccessGrant(accessor: accessor, name: loaded.stored.name, scopes: loaded.scopes, tenants: loaded.tenants)
            }
            state.pendingLastUsed[accessor] = max(now, state.pendingLastUsed[accessor] ?? now)
            return grant
        }
    }

    /// The tokens (not revoked) bound to a policy that the current policies do not have: they grant
    /// nothing. The service logs them at start, so a renamed or deleted policy is noticed.
    ///
    /// - Throws: the errors of reading the store.
    public func tokensWithMissingPolicy() throws -> [TokenInfo] {
        try refreshIfChanged()
        return state.withLock { state in
            state.file.tokens.filter { $0.revoked == nil && $0.policy.map { state.policies[$0] == nil } == true }.map(\.info)
        }
    }

    // MARK: Managing tokens

    /// Every token, revoked and expired ones included, oldest first; "last used" includes uses not yet
    /// written to the file.
    ///
    /// - Throws: the errors of reading the store.
    public func list() throws -> [TokenInfo] {
        try refreshIfChanged()
        return state.withLock { state in
            state.file.tokens.map { token in
                var token = token
                if let pending = state.pendingLastUsed[token.accessor] { token.lastUsed = max(pending, token.lastUsed ?? pending) }
                return token.info
            }
        }
    }

    /// Creates a token and returns it: the only time the token exists outside its holder.
    ///
    /// Give either `scopes` (with `tenants`, `nil` for every tenant) or `policy` (whose scopes and tenants
    /// apply at every request), not both.
    ///
    /// - Parameters:
    ///   - name: a label for people, 1 to 64 printable characters.
    ///   - expires: when it stops working (seconds since 1970), or nil for never; see ``TokenExpiry``.
    /// - Throws: ``CertVaultError`` `invalid-input` (name, scopes and policy together, no scopes, an expiry
    ///   in the past), `unknown-access-policy`, and the errors of reading and writing the store.
    public func create(
        name: String, scopes: Set<Scope>, tenants: TenantSelector?, policy: String?, expires: Int64?,
        now: Int64 = UTCTime.now()
    ) throws -> IssuedToken {
        try TokenStore.checkName(name)
        if let policy {
            guard scopes.isEmpty, tenants == nil else {
                throw CertVaultError(
                    .invalidInput, "A token takes its scopes and tenants from its access policy or from its own list, not both.",
                    hint: "Give --policy alone, or --scope (and --tenant) without --policy.")
            }
            let known = self.policies
            guard known[policy] != nil else {
                throw CertVaultError(
                    .unknownAccessPolicy, "There is no access policy named \(DisplayText.escapingControls(policy, limit: 64)).",
                    hint: known.names.isEmpty
                        ? "No access policy is loaded; add policy/access/\(AccessPolicy.isValidName(policy) ? policy : "NAME").toml first."
                        : "Use one of: \(known.names.joined(separator: ", ")).")
            }
        } else if scopes.isEmpty {
            throw CertVaultError(
                .invalidInput, "A token needs at least one scope, or an access policy.",
                hint: "Give --scope with one or more of: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")); or --policy NAME.")
        }
        if let expires, expires <= now {
            throw CertVaultError(.invalidInput, "The token's expiry is not in the future.", hint: "Give a lifetime such as 90d.")
        }
        var issued: IssuedToken?
        try modify { file in
            var accessor = TokenText.newAccessor()
            while file.tokens.contains(where: { $0.accessor == accessor }) { accessor = TokenText.newAccessor() }
            let token = TokenText.make(accessor: accessor)
            let stored = StoredToken(
                accessor: accessor, name: name, hash: Hex.lower(TokenText.hash(token, key: keys.hashKey)),
                scopes: scopes.map(\.rawValue).sorted(), policy: policy, tenants: tenants.map(TokenStore.entries(of:)),
                created: now, expires: expires, revoked: nil, lastUsed: nil)
            file.tokens.append(stored)
            issued = IssuedToken(info: stored.info, token: token)
        }
        return issued!
    }

    /// Revokes the token with `accessor`: it stops working at once, here and (at their next request) in
    /// every other process using the store. Its record stays, for `token list` and the audit trail.
    ///
    /// - Returns: the token, and whether it had already been revoked (then nothing changed).
    /// - Throws: ``CertVaultError`` `token-not-found` for an unknown accessor; `invalid-input` when a token
    ///   was given instead of an accessor (it is not repeated); the errors of the store.
    @discardableResult
    public func revoke(accessor: String, now: Int64 = UTCTime.now()) throws -> (info: TokenInfo, alreadyRevoked: Bool) {
        if accessor.hasPrefix("cvt_") { try TokenStore.refuseTokenAsAccessor() }
        var result: (TokenInfo, Bool)?
        try modify { file in
            guard let index = file.tokens.firstIndex(where: { $0.accessor == accessor }) else {
                throw CertVaultError(
                    .tokenNotFound, "No token has the accessor \(DisplayText.escapingControls(accessor, limit: 40)).",
                    hint: "Run 'certvault token list' to see the accessors.")
            }
            let already = file.tokens[index].revoked != nil
            if !already { file.tokens[index].revoked = now }
            result = (file.tokens[index].info, already)
        }
        return result!
    }

    /// Throws the error for a token given where an accessor belongs; the token is not repeated.
    public static func refuseTokenAsAccessor() throws -> Never {
        throw CertVaultError(
            .invalidInput, "That is a token, not an accessor.",
            hint: "Give the accessor that 'certvault token list' shows. A token typed on a command line may be in your shell "
                + "history: revoke that token too (its accessor is the 16 characters after 'cvt_').")
    }

    // MARK: Last used

    /// Writes the "last used" times gathered since the last write, if any (at shutdown, or from a timer).
    ///
    /// - Returns: how many tokens' times were written.
    /// - Throws: the errors of reading and writing the store; the times stay in memory for the next try.
    @discardableResult
    public func flushLastUsed(now: Int64 = UTCTime.now()) throws -> Int {
        let pending = state.withLock { state in
            state.lastFlush = now
            return state.pendingLastUsed
        }
        guard !pending.isEmpty else { return 0 }
        var written = 0
        try modify { file in
            written = 0
            for index in file.tokens.indices {
                if let time = pending[file.tokens[index].accessor], time > (file.tokens[index].lastUsed ?? Int64.min) {
                    file.tokens[index].lastUsed = time
                    written += 1
                }
            }
        }
        state.withLock { state in
            for (accessor, time) in pending where state.pendingLastUsed[accessor] == time { state.pendingLastUsed[accessor] = nil }
        }
        return written
    }

    /// ``flushLastUsed(now:)`` when ``lastUsedFlushInterval`` seconds have passed since the last one.
    ///
    /// - Returns: how many tokens' times were written (0 when it was not due).
    @discardableResult
    public func flushLastUsedIfDue(now: Int64 = UTCTime.now()) throws -> Int {
        let due = state.withLock { now - $0.lastFlush >= TokenStore.lastUsedFlushInterval }
        return due ? try flushLastUsed(now: now) : 0
    }

    /// ``TokenAuthority`` conformance: ``flushLastUsedIfDue(now:)``.
    public func flushIfDue(now: Int64) throws { try flushLastUsedIfDue(now: now) }

    /// ``TokenAuthority`` conformance: ``flushLastUsed(now:)``.
    public func flush(now: Int64) throws { try flushLastUsed(now: now) }

    // MARK: The document

    /// Reads and authenticates the document; nil when there is none.
    private func readDocument() throws -> (TokenStoreFile, AccessDocumentVersion)? {
        guard let document = try backend.read() else { return nil }
        return (try TokenStoreFile.parse(document.bytes, keys: keys, path: path), document.version)
    }

    private static func install(
        _ file: TokenStoreFile, stamp: AccessDocumentVersion?, into state: inout State, path: String
    ) throws(CertVaultError) {
        guard file.revision >= state.highestRevision else {
            throw CertVaultError(
                .tokenStoreRolledBack,
                "The token store '\(path)' is at revision \(file.revision), older than revision \(state.highestRevision) read before: "
                    + "an older copy was put in its place.",
                hint: "A rollback can bring revoked tokens back; nothing is granted. Find out who replaced the file, put the newest "
                    + "copy back (or revoke again), then restart.")
        }
        var tokens: [String: LoadedToken] = [:]
        for token in file.tokens {
            let hash = TokenStore.bytes(ofHex: token.hash)
            tokens[token.accessor] = LoadedToken(
                stored: token, hash: hash, scopes: Set(token.scopes.compactMap(Scope.init(rawValue:))),
                tenants: token.tenants.flatMap { try? TenantSelector($0) })
        }
        state.tokens = tokens
        state.file = file
        state.stamp = stamp
        state.highestRevision = file.revision
    }

    /// Reads the document again when it changed since it was last read (another process wrote it).
    private func refreshIfChanged() throws {
        let current = try backend.currentVersion()
        guard current != state.withLock({ $0.stamp }) else { return }
        if var (file, stamp) = try readDocument() {
            // Another thread of this process may have installed a newer revision since this read: then
            // the document changed meanwhile, and reading again tells a stale read from a rollback.
            for _ in 0..<20 {
                let older = state.withLock { file.revision < $0.highestRevision }
                guard older, try backend.currentVersion() != stamp, let again = try readDocument() else { break }
                (file, stamp) = again
            }
            try state.withLock { state throws(CertVaultError) in try TokenStore.install(file, stamp: stamp, into: &state, path: path) }
        } else {
            // Read as missing while another thread of this process wrote the first revision: read again.
            if state.withLock({ $0.highestRevision > 0 }), try backend.currentVersion() != nil { return try refreshIfChanged() }
            try state.withLock { state throws(CertVaultError) in
                guard state.highestRevision == 0 else {
                    throw CertVaultError(
                        .tokenStoreRolledBack, "The token store '\(path)' has disappeared.",
                        hint: "Nothing is granted. Put the file back from a backup, or restart to begin without tokens.")
                }
            }
        }
    }

    /// Changes the document: read, change, write a new revision if nobody wrote meanwhile (compare and
    /// swap), else read again and re-apply `change` (which may so run more than once).
    private func modify(_ change: (inout TokenStoreFile) throws -> Void) throws {
        _ = try AccessDocumentUpdate.retrying(location: path) { () throws -> Bool? in
            let current = try readDocument()
            var file = current?.0 ?? TokenStoreFile()
            let highest = state.withLock { $0.highestRevision }
            // Older than what this process has seen: a stale read when the document changed since (read
            // again), a rollback when it did not.
            if file.revision < highest, try backend.currentVersion() != current?.1 { return nil }
            if file.revision < highest {
                try state.withLock { state throws(CertVaultError) in try TokenStore.install(file, stamp: nil, into: &state, path: path) }
            }
            try change(&file)
            file.revision += 1
            let bytes = try file.serialize(keys: keys)
            guard let version = try backend.write(bytes, revision: file.revision, replacing: current?.1) else { return nil }
            try state.withLock { state throws(CertVaultError) in
                if file.revision > state.highestRevision || state.stamp == nil {
                    try TokenStore.install(file, stamp: version, into: &state, path: path)
                }
            }
            return true
        }
    }

    // MARK: Helpers

    /// The bytes of lowercase hex (checked by ``TokenStoreFile/validate(_:line:corrupt:)``).
    static func bytes(ofHex text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        func value(_ digit: UInt8) -> UInt8 { digit >= 0x61 ? digit - 0x61 + 10 : digit &- 0x30 }
        return stride(from: 0, to: digits.count - 1, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
    }

    static func checkName(_ name: String) throws {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 64, trimmed == name, !name.unicodeScalars.contains(where: DisplayText.needsEscape) else {
            throw CertVaultError(
                .invalidInput, "Invalid token name \(DisplayText.escapingControls(name, limit: 80)).",
                hint: "Give 1 to 64 printable characters without leading or trailing spaces, e.g. restore-tooling.")
        }
    }

    /// The entries that make up `selector` again (`contoso`, `eu-*`).
    static func entries(of selector: TenantSelector) -> [String] {
        selector.exact.map(\.rawValue).sorted() + selector.prefixes.map { $0 + "*" }
    }
}
