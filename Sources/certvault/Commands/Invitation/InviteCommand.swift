import ArgumentParser
import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultVault
import Foundation
import Logging

/// Where the invitation store and the onboarding records are; opens them with the vault as
/// `certvault token` does (``VaultOptions/open()``).
struct InvitationStoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where onboarding records are kept (default: $CERTVAULT_ONBOARDING, [onboarding] state_dir of --config, or keys/onboarding).",
            valueName: "dir"))
    var stateDir: String?

    /// The store (`invitations` in the vault folder, as `serve` opens it) and the vault handle it was
    /// opened with (create and revoke write the vault's audit log).
    func open(vault: VaultOptions) throws -> (store: InvitationStore, vault: Vault) {
        let opened = try vault.open()
        // The configuration's [storage]: on PostgreSQL, the store every replica uses.
        let storage = try ServiceStorage.open(
            try vault.configuration(), logger: Logger(label: "certvault.cli", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (try storage.invitationStore(vault: opened), opened)
    }

    /// The tenant's onboarding record, if there is one.
    func record(of tenant: TenantID, vault: VaultOptions) throws -> OnboardingRecord? {
        if stateDir == nil {
            let storage = try ServiceStorage.open(
                try vault.configuration(), logger: Logger(label: "certvault.cli", factory: { _ in SwiftLogNoOpLogHandler() }))
            if storage.isShared { return try storage.onboardingStore(folder: "").load(tenant) }
        }
        let folder = try stateDir ?? vault.configuration().onboarding.stateDirectory
        return FileManager.default.fileExists(atPath: folder) ? try OnboardingStore(folder: folder).load(tenant) : nil
    }

    /// Who the CLI acts as: `cli:<user>`.
    static var actor: String { "cli:\(Vault.currentUser)" }
}

/// `certvault invite TENANT`: a link for the customer portal.
struct InviteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Create an invitation link for the customer portal and print it once (standard output only).",
        discussion: """
            The link (PUBLIC_URL/onboard/TOKEN, [portal] public_url) lets the customer's administrator onboard \
            the tenant (kind onboarding) or sign in for a certificate rotation (kind renewal) on 'certvault serve'. \
            It works until it expires, is revoked, or its onboarding completes; a new invitation of the same kind \
            for the same tenant replaces (revokes) the one before. The vault keeps a keyed hash of the token only. \
            See docs/portal.md.
            """
    )

    @Argument(help: "The tenant id.")
    var tenant: String

    @Option(name: .long, help: ArgumentHelp("The customer's name, shown on the pages and in lists.", valueName: "name"))
    var displayName: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Lifetime: 7d, 48h, 30m; at most 90d (default: [portal] invitation_days of --config, else 7d).", valueName: "lifetime"))
    var expires: String?

    @Option(name: .long, help: ArgumentHelp("onboarding (the default) or renewal.", valueName: "kind"))
    var kind: String = "onboarding"

    @Flag(name: .long, help: "Print JSON (with the link) instead of the bare link.")
    var json = false

    @OptionGroup var invitations: InvitationStoreOptions
    @OptionGroup var vault: VaultOptions

    func validate() throws {
        guard Invitation.Kind(rawValue: kind) != nil else {
            throw ValidationError("--kind must be one of \(Invitation.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
    }

    func run() throws {
        let tenant = try TenantID(self.tenant)
        let kind = Invitation.Kind(rawValue: kind)!
        let configuration = try vault.configuration()
        let lifetime = try expires.map(InvitationLifetime.parse) ?? Int64(configuration.portal.invitationDays) * 86_400
        try InvitationRules.check(kind: kind, tenant: tenant, record: try invitations.record(of: tenant, vault: vault))
        let (store, opened) = try invitations.open(vault: vault)
        let now = UTCTime.now()
        let actor = InvitationStoreOptions.actor
        let made = try store.createReplacingActive(
            tenant: tenant, kind: kind, displayName: displayName, lifetimeSeconds: lifetime, createdBy: actor, now: now)
        do {
            try opened.recordAudit(
                action: "invitation.create", tenant: tenant,
                detail: InvitationRules.createdDetail(made.invitation, by: actor, replaced: made.replaced))
            for old in made.replaced {
                try opened.recordAudit(
                    action: "invitation.revoke", tenant: tenant,
                    detail: InvitationRules.revokedDetail(old, by: actor, reason: "replaced by \(made.invitation.id)"))
            }
        } catch {
            // An invitation nobody can account for must not work: revoke it before failing.
            _ = try? store.revoke(id: made.invitation.id, now: now)
            throw CertVaultError(
                .fileSystem, "The invitation was not created: its creation could not be written to the vault's audit log.",
                hint: "Check the vault folder (disk space, permissions) and 'certvault audit verify', then invite again.")
        }
        let base = configuration.portalPublicURL
        var bytes: [UInt8]
        if json {
            let view = CreatedInvitationView(invitation: InvitationView(made.invitation, now: now), replaced: made.replaced.map(\.id))
            bytes = try InvitationLink.json(base: base, token: made.token, rest: view, pretty: true) + [UInt8(ascii: "\n")]
        } else {
            bytes = InvitationLink.line(base: base, token: made.token)
        }
        defer { SecureWipe.wipe(&bytes) }
        try bytes.withUnsafeBytes { try PrivateFiles.writeAll(fd: STDOUT_FILENO, $0, what: "standard output") }
        var note = "certvault: invitation \(made.invitation.id) (\(kind.rawValue)) for tenant '\(tenant.rawValue)'"
        if let name = made.invitation.displayName { note += " ('\(DisplayText.escapingControls(name))')" }
        note += ", expires \(UTCTime.dateTime(made.invitation.expiresAt)).\n"
        if !made.replaced.isEmpty {
            note += "certvault: it replaces \(made.replaced.map(\.id).joined(separator: ", ")), revoked now.\n"
        }
        note += "certvault: this is the only time the link is shown; send it to the customer now.\n"
        Terminal.err(note)
    }
}
