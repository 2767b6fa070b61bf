import ArgumentParser
import CertVaultAccess
import CertVaultCore
import CertVaultServer
import CertVaultVault
import Foundation

/// `certvault invitation list | revoke`: the customer portal's invitation links.
struct InvitationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invitation",
        abstract: "List and revoke invitation links ('certvault invite' creates them).",
        discussion: "The links themselves are never stored or shown again; the list shows ids, tenants and states. See docs/portal.md.",
        subcommands: [InvitationListCommand.self, InvitationRevokeCommand.self]
    )
}

/// `certvault invitation list`.
struct InvitationListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List invitations: id, tenant, kind, state, times (never the links).")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @OptionGroup var invitations: InvitationStoreOptions
    @OptionGroup var vault: VaultOptions

    func run() throws {
        let (store, _) = try invitations.open(vault: vault)
        let now = UTCTime.now()
        let views = try store.list().map { InvitationView($0, now: now) }
        if json {
            Terminal.out(try Terminal.json(views) + "\n")
            return
        }
        guard !views.isEmpty else {
            Terminal.out("No invitations. Create one with 'certvault invite TENANT'.\n")
            return
        }
        var lines = ["ID\tTENANT\tKIND\tSTATE\tNAME\tCREATED\tEXPIRES\tBY"]
        for view in views {
            lines.append(
                [
                    view.id, view.tenant, view.kind, view.state,
                    view.displayName.map { DisplayText.escapingControls($0, limit: 40) } ?? "-",
                    view.createdAt, view.expiresAt, view.createdBy,
                ].joined(separator: "\t"))
        }
        Terminal.out(Table.render(lines))
    }
}

/// `certvault invitation revoke ID`.
struct InvitationRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke an invitation by its id; its link stops working at once.")

    @Argument(help: "The id that 'certvault invitation list' shows.")
    var id: String

    @OptionGroup var invitations: InvitationStoreOptions
    @OptionGroup var vault: VaultOptions

    func run() throws {
        // Checked before the vault is opened, so a link pasted here is refused without being repeated.
        if InvitationText.looksLikeToken(id) || id.contains("/onboard/") { try InvitationStore.refuseTokenAsID() }
        let (store, opened) = try invitations.open(vault: vault)
        let before = try store.invitation(id: id)
        let invitation = try store.revoke(id: id, now: UTCTime.now())
        if before?.status == .active {
            try opened.recordAudit(
                action: "invitation.revoke", tenant: invitation.tenant,
                detail: InvitationRules.revokedDetail(invitation, by: InvitationStoreOptions.actor))
            Terminal.out("Revoked invitation \(invitation.id) (\(invitation.kind.rawValue), tenant '\(invitation.tenant.rawValue)').\n")
        } else {
            Terminal.out(
                "Invitation \(invitation.id) (tenant '\(invitation.tenant.rawValue)') was already \(invitation.status.rawValue); "
                    + "nothing changed.\n")
        }
    }
}
