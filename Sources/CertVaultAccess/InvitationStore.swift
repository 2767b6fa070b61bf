public import CertVaultCore
public import CertVaultVault
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// The invitations of one vault: created by `certvault invite` and `POST /v1/invitations`, resolved
/// by the portal's pages on every request, listed and revoked by operators.
///
/// The file (default `<vault>/invitations`, mode 0600 in a 0700 folder) holds for every invitation
/// its description (``Invitation``) and a BLAKE2b-256 hash of its token keyed with a key derived from
/// the vault's root key, never the token. The whole file is authenticated with a MAC under a second
/// derived key, so nobody without the root key can add an invitation, bring a revoked one back to
/// life or move one to another tenant by editing it: an altered file is refused, and then no link
/// works until it is repaired. The layout is the token store's (``TokenStore``, docs/access.md).
///
/// Several processes (the service and the CLI) may use one store: every change takes `flock` on
/// `<store>.lock`, re-reads the file, and replaces it atomically (temporary file, fsync, rename, fsync
/// of the folder). A process that holds the store open notices another's change at its next call
/// (one `stat`) and reads the file again, so a revocation takes effect at once. A process that has
/// read revision N refuses a file with a lower revision (an older copy put back).
public final class InvitationStore: Sendable {
    /// Where the store is: its file's path, or the database row (``AccessDocumentBackend/location``).
    public let path: String
    /// Where the store's bytes are kept.
    public let backend: any AccessDocumentBackend
    /// The purpose with which the vault derives the store's key (see ``CertVaultVault/Vault/derivedKey(purpose:)``).
    public static let keyPurpose = "invitation store"
    /// The longest lifetime an invitation may have: 90 days.
    public static let maximumLifetimeSeconds: Int64 = 90 * 86_400

    let keys: InvitationStoreKeys
    private let state: Mutex<State>

    struct State: Sendable {
        var byID: [String: StoredInvitation] = [:]
        var file = InvitationStoreFile()
        var stamp: AccessDocumentVersion?
        var highestRevision: UInt64 = 0
    }

    /// The default store of the vault at `vault` (its folder): `<vault>/invitations`.
    public static func defaultPath(vault: String) -> String { "\(vault)/invitations" }

    /// Opens the store at `path` with a key `vault` derives from its root key. A store that does not
    /// exist yet is empty; the first ``create(tenant:kind:displayName:lifetimeSeconds:createdBy:now:)``
    /// creates it.
    ///
    /// - Throws: ``CertVaultError`` `invitation-store-corrupt` (altered or damaged),
    ///   `invitation-store-wrong-key` (another vault's store), `insecure-permissions` (the file or its
    ///   folder open to other users), `file-system`.
    public convenience init(path: String, vault: Vault) throws {
        try self.init(path: path, key: vault.derivedKey(purpose: InvitationStore.keyPurpose))
    }

    /// Opens the store at `path` with the key `key` (32 bytes, derived from the vault's root key).
    ///
    /// - Throws: the errors of ``init(path:vault:)``.
    public convenience init(path: String, key: SecretBytes) throws {
        try self.init(
            backend: FileAccessDocument(path: path, what: "invitation store", corruptCode: .invitationStoreCorrupt), key: key)
    }

    /// Opens the store kept by `backend` (a file, or the shared database's `invitations` row) with the
    /// key `key` (32 bytes, derived from the vault's root key). The bytes, their MAC and the rollback
    /// check are the same whatever keeps them.
    ///
    /// - Throws: the errors of ``init(path:vault:)``; `storage-unavailable` from a database.
    public init(backend: any AccessDocumentBackend, key: SecretBytes) throws {
        precondition(key.count == 32, "the invitation store's key is 32 bytes")
        self.path = backend.location
        self.backend = backend
        self.keys = InvitationStoreKeys(key)
        self.state = Mutex(State())
        if let (file, stamp) = try readDocument() {
            try state.withLock { state throws(CertVaultError) in try InvitationStore.install(file, stamp: stamp, into: &state, path: path) }
        }
    }

    // MARK: Creating and resolving

    /// Creates an invitation and returns it with its token: the only time the token exists outside the
    /// link. The token text is `cvi_<id>_<43 base64url characters of 256 random bits>` (``InvitationText``);
    /// only a keyed BLAKE2b hash of it is stored.
    ///
    /// - Parameters:
    ///   - displayName: the customer's name as the operator gives it (1 to 120 printable characters), or nil.
    ///   - lifetimeSeconds: how long the link works, 1 second to ``maximumLifetimeSeconds``.
    ///   - createdBy: who creates it: a token accessor or `cli:<user>` (1 to 120 printable characters).
    /// - Throws: ``CertVaultError`` `invalid-input` (display name, lifetime, creator), and the errors of
    ///   reading and writing the store.
    public func create(
        tenant: TenantID, kind: Invitation.Kind, displayName: String?, lifetimeSeconds: Int64, createdBy: String, now: Int64
    ) throws -> (invitation: Invitation, token: SecretBytes) {
        let made = try make(
            tenant: tenant, kind: kind, displayName: displayName, lifetimeSeconds: lifetimeSeconds, createdBy: createdBy, now: now,
            replacing: false)
        return (made.invitation, made.token)
    }

    /// ``create(tenant:kind:displayName:lifetimeSeconds:createdBy:now:)``, and in the same write revokes
    /// every other invitation of the tenant and kind that is still usable at `now`: one live link per
    /// tenant and purpose, so a link sent again replaces the one sent before (`certvault invite` and
    /// `POST /v1/invitations` do this).
    ///
    /// - Returns: the new invitation, its token, and the invitations it replaced (now revoked).
    /// - Throws: the errors of ``create(tenant:kind:displayName:lifetimeSeconds:createdBy:now:)``.
    public func createReplacingActive(
        tenant: TenantID, kind: Invitation.Kind, displayName: String?, lifetimeSeconds: Int64, createdBy: String, now: Int64
    ) throws -> (invitation: Invitation, token: SecretBytes, replaced: [Invitation]) {
        try make(
            tenant: tenant, kind: kind, displayName: displayName, lifetimeSeconds: lifetimeSeconds, createdBy: createdBy, now: now,
            replacing: true)
    }

    private func make(
        tenant: TenantID, kind: Invitation.Kind, displayName: String?, lifetimeSeconds: Int64, createdBy: String, now: Int64,
        replacing: Bool
    ) throws -> (invitation: Invitation, token: SecretBytes, replaced: [Invitation]) {
        if let displayName { try InvitationStore.checkText(displayName, what: "display name", example: "Contoso Ltd") }
        try InvitationStore.checkText(createdBy, what: "creator", example: "cli:alice")
        guard lifetimeSeconds > 0, lifetimeSeconds <= InvitationStore.maximumLifetimeSeconds else {
            throw CertVaultError(
                .invalidInput, "An invitation's lifetime must be between 1 second and 90 days, not \(lifetimeSeconds) seconds.",
                hint: "Give a lifetime such as 7d (the default) or 48h.")
        }
        var result: (Invitation, SecretBytes, [Invitation])?
        try modify { file in
            var replaced: [Invitation] = []
            if replacing {
                for index in file.invitations.indices {
                    let old = file.invitations[index].invitation
                    guard old.tenant == tenant, old.kind == kind, old.isUsable(now: now) else { continue }
                    file.invitations[index].invitation.status = .revoked
                    file.invitations[index].invitation.revokedAt = now
                    replaced.append(file.invitations[index].invitation)
                }
            }
            var id = TokenText.newAccessor()
            while file.invitations.contains(where: { $0.invitation.id == id }) { id = TokenText.newAccessor() }
            let token = InvitationText.make(id: id)
            let invitation = Invitation(
                id: id, tenant: tenant, kind: kind, displayName: displayName, createdAt: now, expiresAt: now + lifetimeSeconds,
                createdBy: createdBy)
            file.invitations.append(StoredInvitation(invitation: invitation, hash: Hex.lower(TokenText.hash(token, key: keys.hashKey))))
            result = (invitation, token, replaced)
        }
        return result!
    }

    /// The invitation the token text names (any status, expired too), or nil when it is unknown, the
    /// secret part does not match (compared in constant time), or the text is not an invitation token
    /// at all (so that the pages answer every such link alike; ``InvitationText/id(of:)`` says what is
    /// wrong with a malformed one). Callers decide with ``Invitation/isUsable(now:)`` and
    /// ``Invitation/showsDonePage(now:)``. One keyed hash and one `stat`; never writes.
    ///
    /// - Throws: the errors of reading the store when another process changed it and the new file is
    ///   altered, rolled back or unreadable.
    public func resolve(_ token: SecretBytes) throws -> Invitation? {
        let id = try? InvitationText.id(of: token)
        let hash = TokenText.hash(token, key: keys.hashKey)
        try refreshIfChanged()
        return state.withLock { state -> Invitation? in
            guard let id, let stored = state.byID[id], TokenText.equal(hash, InvitationStore.bytes(ofHex: stored.hash)) else {
                return nil
            }
            return stored.invitation
        }
    }

    // MARK: Listing and changing

    /// Every invitation, completed, revoked and expired ones included, oldest first.
    ///
    /// - Throws: the errors of reading the store.
    public func list() throws -> [Invitation] {
        try refreshIfChanged()
        return state.withLock { $0.file.invitations.map(\.invitation) }
    }

    /// The invitation with `id`, or nil.
    ///
    /// - Throws: the errors of reading the store.
    public func invitation(id: String) throws -> Invitation? {
        try refreshIfChanged()
        return state.withLock { $0.byID[id]?.invitation }
    }

    /// Revokes the invitation with `id`: its link stops working at once, here and (at their next
    /// request) in every other process using the store. Its record stays, for `invitation list` and the
    /// audit trail. An invitation already revoked or completed is returned unchanged (a completed one's
    /// link is dead already).
    ///
    /// - Throws: ``CertVaultError`` `invitation-not-found` for an unknown id; `invalid-input` when a
    ///   token was given instead of an id (it is not repeated); the errors of the store.
    @discardableResult
    public func revoke(id: String, now: Int64) throws -> Invitation {
        try change(id: id) { invitation in
            guard invitation.status == .active else { return }
            invitation.status = .revoked
            invitation.revokedAt = now
        }
    }

    /// Records that the onboarding (or rotation) the invitation was sent for has finished: from now on
    /// only its "done" page answers, for ``Invitation/completedGraceSeconds``. An invitation already
    /// completed or revoked is returned unchanged.
    ///
    /// - Throws: ``CertVaultError`` `invitation-not-found` for an unknown id; the errors of the store.
    @discardableResult
    public func markCompleted(id: String, now: Int64) throws -> Invitation {
        try change(id: id) { invitation in
            guard invitation.status == .active else { return }
            invitation.status = .completed
            invitation.completedAt = now
        }
    }

    /// Throws the error for an invitation token given where an id belongs; the token is not repeated.
    public static func refuseTokenAsID() throws -> Never {
        throw CertVaultError(
            .invalidInput, "That is an invitation token, not an id.",
            hint: "Give the id that 'certvault invitation list' shows: the 16 characters after 'cvi_'. A link typed on a "
                + "command line may be in your shell history; revoking the invitation makes it useless.")
    }

    private func change(id: String, _ body: (inout Invitation) -> Void) throws -> Invitation {
        if InvitationText.looksLikeToken(id) { try InvitationStore.refuseTokenAsID() }
        var result: Invitation?
        var unchanged = false
        // Read first, so that a call that changes nothing does not write a new revision.
        if let current = try invitation(id: id) {
            var copy = current
            body(&copy)
            if copy == current {
                result = current
                unchanged = true
            }
        }
        if unchanged, let result { return result }
        try modify { file in
            guard let index = file.invitations.firstIndex(where: { $0.invitation.id == id }) else {
                throw CertVaultError(
                    .invitationNotFound, "No invitation has the id \(DisplayText.escapingControls(id, limit: 40)).",
                    hint: "Run 'certvault invitation list' to see the ids.")
            }
            body(&file.invitations[index].invitation)
            result = file.invitations[index].invitation
        }
        return result!
    }

    // MARK: The document

    /// Reads and authenticates the document; nil when there is none.
    private func readDocument() throws -> (InvitationStoreFile, AccessDocumentVersion)? {
        guard let document = try backend.read() else { return nil }
        return (try InvitationStoreFile.parse(document.bytes, keys: keys, path: path), document.version)
    }

    private static func install(
        _ file: InvitationStoreFile, stamp: AccessDocumentVersion?, into state: inout State, path: String
    ) throws(CertVaultError) {
        guard file.revision >= state.highestRevision else {
            throw CertVaultError(
                .invitationStoreRolledBack,
                "The invitation store '\(path)' is at revision \(file.revision), older than revision \(state.highestRevision) "
                    + "read before: an older copy was put in its place.",
                hint: "A rollback can bring revoked or used invitation links back; no link works. Find out who replaced the "
                    + "file, put the newest copy back (or revoke again), then restart.")
        }
        state.byID = Dictionary(file.invitations.map { ($0.invitation.id, $0) }, uniquingKeysWith: { first, _ in first })
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
            try state.withLock { state throws(CertVaultError) in try InvitationStore.install(file, stamp: stamp, into: &state, path: path) }
        } else {
            // Read as missing while another thread of this process wrote the first revision: read again.
            if state.withLock({ $0.highestRevision > 0 }), try backend.currentVersion() != nil { return try refreshIfChanged() }
            try state.withLock { state throws(CertVaultError) in
                guard state.highestRevision == 0 else {
                    throw CertVaultError(
                        .invitationStoreRolledBack, "The invitation store '\(path)' has disappeared.",
                        hint: "No link works. Put the file back from a backup, or restart to begin without invitations.")
                }
            }
        }
    }

    /// Changes the document: read, change, write a new revision if nobody wrote meanwhile (compare and
    /// swap), else read again and re-apply `change` (which may so run more than once). An invitation
    /// completed by two replicas at once is so completed once: the second sees it completed.
    private func modify(_ change: (inout InvitationStoreFile) throws -> Void) throws {
        _ = try AccessDocumentUpdate.retrying(location: path) { () throws -> Bool? in
            let current = try readDocument()
            var file = current?.0 ?? InvitationStoreFile()
            let highest = state.withLock { $0.highestRevision }
            // Older than what this process has seen: a stale read when the document changed since (read
            // again), a rollback when it did not.
            if file.revision < highest, try backend.currentVersion() != current?.1 { return nil }
            if file.revision < highest {
                try state.withLock { state throws(CertVaultError) in
                    try InvitationStore.install(file, stamp: nil, into: &state, path: path)
                }
            }
            try change(&file)
            file.revision += 1
            let bytes = try file.serialize(keys: keys)
            guard let version = try backend.write(bytes, revision: file.revision, replacing: current?.1) else { return nil }
            try state.withLock { state throws(CertVaultError) in
                if file.revision > state.highestRevision || state.stamp == nil {
                    try InvitationStore.install(file, stamp: version, into: &state, path: path)
                }
            }
            return true
        }
    }

    // MARK: Helpers

    /// The bytes of lowercase hex (checked by ``InvitationStoreFile/validate(_:line:corrupt:)``).
    static func bytes(ofHex text: String) -> [UInt8] { TokenStore.bytes(ofHex: text) }

    static func checkText(_ text: String, what: String, example: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.count <= 120, trimmed == text, !text.unicodeScalars.contains(where: DisplayText.needsEscape)
        else {
            throw CertVaultError(
                .invalidInput, "Invalid invitation \(what) \(DisplayText.escapingControls(text, limit: 80)).",
                hint: "Give 1 to 120 printable characters without leading or trailing spaces, e.g. \(example).")
        }
    }
}
