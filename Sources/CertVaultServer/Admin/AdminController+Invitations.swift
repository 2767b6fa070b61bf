import CertVaultAccess
import CertVaultCore
import CertVaultConfiguration
import CertVaultVault
import CertVaultOnboarding
import Foundation
import Hummingbird

/// What the invitation form sent, checked.
struct AdminInvitationForm {
    var tenant = ""
    var displayName = ""
    var kind = "onboarding"
    var days: String
    /// Field name -> message.
    var errors: [String: String] = [:]

    static let order = ["tenant", "display_name", "kind", "days"]
}

extension AdminController {
    /// Where the page puts the new link; replaced in the bytes, so the link never becomes a `String`.
    static let linkPlaceholder = "@@certvault-invitation-link@@"

    func addInvitationRoutes(to router: Router<CertVaultRequestContext>) {
        router.get("/admin/invitations") { request, context in
            await self.signedIn(request, context, action: .invitations, post: false) { caller, _ in
                let query = AdminForm(Array((request.uri.query ?? "").utf8))
                let revoked = query["revoked"].flatMap { InvitationText.isValidID($0) ? $0 : nil }
                return try await self.invitationsPage(caller: caller, notice: revoked.map { "Invitation \($0) is revoked." })
            }
        }
        router.post("/admin/invitations") { request, context in
            await self.signedIn(request, context, action: .invitations, post: true) { caller, form in
                try await self.createInvitation(form ?? AdminForm([]), caller: caller)
            }
        }
        router.post("/admin/invitations/{id}/revoke") { request, context in
            await self.signedIn(request, context, action: .invitations, post: true) { caller, _ in
                try await self.revokeInvitation(try context.parameters.require("id"), caller: caller)
            }
        }
    }

    /// `GET /admin/invitations`: the form and the invitations of the tenants the grant covers, newest first.
    func invitationsPage(
        caller: AdminCaller, form: AdminInvitationForm? = nil, created: (invitation: Invitation, replaced: [Invitation])? = nil,
        link: SecretBytes? = nil, notice: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let now = self.now
        let grant = caller.grant
        let form = form ?? AdminInvitationForm(days: String(services.configuration.portal.invitationDays))
        var values: [String: Any] = [
            "csrf": caller.csrf, "tenant": form.tenant, "displayName": form.displayName, "days": form.days,
            "kindOnboarding": form.kind != "renewal", "kindRenewal": form.kind == "renewal",
        ]
        for (field, message) in form.errors {
            values[Self.camel(field) + "Error"] = message
        }
        if !form.errors.isEmpty {
            values["hasErrors"] = true
            values["errorList"] = AdminInvitationForm.order.compactMap { field in
                form.errors[field].map { ["field": field, "message": $0] }
            }
        }
        if let notice { values["notice"] = notice }
        var invitations: [Invitation] = []
        if let store = services.invitations {
            invitations = try await services.work.run { try store.list() }.filter { grant.covers($0.tenant) }
                .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        } else {
            values["unavailable"] =
                "This service keeps no invitations (it was started without the customer portal), so none can be created here."
        }
        values["invitations"] = invitations.map { invitation -> [String: Any] in
            let state = invitation.displayState(now: now)
            return [
                "id": invitation.id, "tenant": invitation.tenant.rawValue, "displayName": invitation.displayName ?? "",
                "kind": invitation.kind.rawValue, "state": state, "createdAt": UTCTime.dateTime(invitation.createdAt),
                "expiresAt": UTCTime.dateTime(invitation.expiresAt), "createdBy": invitation.createdBy, "active": state == "active",
            ]
        }
        if let created {
            var shown: [String: Any] = [
                "tenant": created.invitation.tenant.rawValue, "link": Self.linkPlaceholder,
                "expires": UTCTime.dateTime(created.invitation.expiresAt),
            ]
            if !created.replaced.isEmpty { shown["replaced"] = created.replaced.map(\.id).joined(separator: ", ") }
            values["created"] = shown
        }
        let page = pages.render(
            "admin_invitations", values, frame: .init(title: "Invitations", page: "invitations", provider: provider, caller: caller))
        guard let link else { return AdminPages.html(page, status: status) }
        // The link goes from secure memory into the page's bytes; the copy is wiped once it is in the buffer.
        var bytes = Self.splice(Array(page.utf8), placeholder: Array(Self.linkPlaceholder.utf8), with: link)
        defer { SecureWipe.wipe(&bytes) }
        return AdminPages.html(bytes: bytes, status: status)
    }

    /// `bytes` with the first `placeholder` replaced by `secret`.
    static func splice(_ bytes: [UInt8], placeholder: [UInt8], with secret: SecretBytes) -> [UInt8] {
        guard let start = bytes.indices.first(where: { bytes[$0...].starts(with: placeholder) }) else { return bytes }
        var out = Array(bytes[..<start])
        secret.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(contentsOf: bytes[(start + placeholder.count)...])
        return out
    }

    static func camel(_ field: String) -> String {
        field == "display_name" ? "displayName" : field
    }

    /// `POST /admin/invitations`: checks the form, then creates the invitation through the API's own
    /// code path and shows its link once.
    func createInvitation(_ form: AdminForm, caller: AdminCaller) async throws -> Response {
        var checked = AdminInvitationForm(
            tenant: (form["tenant"] ?? "").trimmingCharacters(in: .whitespaces),
            displayName: (form["display_name"] ?? "").trimmingCharacters(in: .whitespaces),
            kind: form["kind"] ?? "onboarding", days: (form["days"] ?? "").trimmingCharacters(in: .whitespaces))
        var tenant: TenantID?
        do {
            tenant = try TenantID(checked.tenant)
        } catch let error as CertVaultError {
            checked.errors["tenant"] = checked.tenant.isEmpty ? "Enter the tenant's id." : error.reason
        }
        if checked.displayName.count > 120 || checked.displayName.unicodeScalars.contains(where: DisplayText.needsEscape) {
            checked.errors["display_name"] = "The name must be at most 120 characters of plain text."
        }
        let kind = Invitation.Kind(rawValue: checked.kind)
        if kind == nil { checked.errors["kind"] = "Choose onboarding or renewal." }
        let days = Int(checked.days)
        if days == nil || !(1...90).contains(days!) { checked.errors["days"] = "Enter a number of days from 1 to 90." }
        guard checked.errors.isEmpty, let tenant, let kind, let days else {
            return try await invitationsPage(caller: caller, form: checked, status: .badRequest)
        }
        let input = RouteInput(services: services, grant: caller.grant, tenant: tenant)
        try input.requireCovered(tenant)
        let made: (invitation: Invitation, token: SecretBytes, replaced: [Invitation])
        do {
            made = try await AdminInvitations.create(
                input, tenant: tenant, kind: kind, displayName: checked.displayName.isEmpty ? nil : checked.displayName, days: days,
                actor: "dashboard token \(caller.grant.accessor)")
        } catch let problem as Problem where problem.status == .conflict || problem.status == .badRequest {
            checked.errors[problem.status == .conflict ? "kind" : "tenant"] = problem.detail + (problem.hint.map { " " + $0 } ?? "")
            return try await invitationsPage(caller: caller, form: checked, status: problem.status)
        }
        var link = Array((services.configuration.portalPublicURL + "/onboard/").utf8)
        made.token.withUnsafeBytes { link.append(contentsOf: $0) }
        let secretLink = link.withUnsafeBytes { SecretBytes(copying: $0) }
        SecureWipe.wipe(&link)
        return try await invitationsPage(
            caller: caller, created: (made.invitation, made.replaced), link: secretLink)
    }

    /// `POST /admin/invitations/{id}/revoke`: through the API's own code path; 404 for an invitation
    /// of a tenant outside the grant, as for one that does not exist.
    func revokeInvitation(_ id: String, caller: AdminCaller) async throws -> Response {
        let input = RouteInput(services: services, grant: caller.grant, tenant: nil)
        let revoked = try await AdminInvitations.revoke(input, id: id, actor: "dashboard token \(caller.grant.accessor)")
        return AdminPages.redirect("/admin/invitations?revoked=\(revoked.id)")
    }
}

/// Creating and revoking invitations for the dashboard: what `POST /v1/invitations` and
/// `DELETE /v1/invitations/{id}` do (one live link per tenant and kind, the kind checked against
/// the tenant's onboarding, every change audited, an invitation whose creation cannot be audited
/// revoked again), with the dashboard's actor in the audit records.
enum AdminInvitations {
    /// 503 when the service keeps no invitations.
    static func requireStore(_ services: AppServices) throws -> InvitationStore {
        guard let store = services.invitations else {
            throw Problem(
                .serviceUnavailable, code: "portal-not-configured",
                detail: "This service has no customer portal, so it keeps no invitations.",
                hint: "Start the service with 'certvault serve' (it opens the invitation store in the vault folder).")
        }
        return store
    }

    static func notFound(_ id: String) -> Problem {
        Problem(
            .notFound, code: "invitation-not-found", detail: "There is no invitation \(Problem.quoted(id, limit: 40)).",
            hint: "The list of invitations shows the ones you may revoke.")
    }

    /// Creates an invitation of `kind` for `tenant` (covered by `input`'s grant), replacing the
    /// tenant's live one of that kind.
    static func create(
        _ input: RouteInput, tenant: TenantID, kind: Invitation.Kind, displayName: String?, days: Int, actor: String
    ) async throws -> (invitation: Invitation, token: SecretBytes, replaced: [Invitation]) {
        let grant = try input.requireGrant()
        try input.requireCovered(tenant)
        let services = input.services
        let store = try requireStore(services)
        let onboardingStore = services.onboardingStore
        let record = try await services.work.run { try TenantReader.record(onboardingStore, tenant: tenant, grant: grant) }
        do {
            // The rules `certvault invite` applies too.
            try InvitationRules.check(kind: kind, tenant: tenant, record: record)
        } catch let error as CertVaultError {
            throw Problem(error, status: .conflict)
        }
        let now = services.clock()
        let made = try await services.work.run {
            try store.createReplacingActive(
                tenant: tenant, kind: kind, displayName: displayName, lifetimeSeconds: Int64(days) * 86_400,
                createdBy: grant.accessor, now: now)
        }
        do {
            try await services.vault.use { vault in
                try vault.recordAudit(
                    action: "invitation.create", tenant: tenant,
                    detail: InvitationRules.createdDetail(made.invitation, by: actor, replaced: made.replaced))
                for old in made.replaced {
                    try vault.recordAudit(
                        action: "invitation.revoke", tenant: tenant,
                        detail: InvitationRules.revokedDetail(old, by: actor, reason: "replaced by \(made.invitation.id)"))
                }
            }
        } catch {
            // An invitation nobody can account for must not work: revoke it before failing.
            let id = made.invitation.id
            _ = try? await services.work.run { try store.revoke(id: id, now: now) }
            throw Problem(
                .internalServerError, code: "audit-failed",
                detail: "The invitation was not created: its creation could not be written to the vault's audit log.",
                hint: "Check the vault folder (disk space, permissions) and 'certvault audit verify', then try again.")
        }
        return made
    }

    /// Revokes the invitation `id` of a tenant the grant covers; 404 otherwise, as for an unknown id.
    static func revoke(_ input: RouteInput, id: String, actor: String) async throws -> Invitation {
        let grant = try input.requireGrant()
        let services = input.services
        let store = try requireStore(services)
        guard InvitationText.isValidID(id) else { throw notFound(id) }
        guard let current = try await services.work.run({ try store.invitation(id: id) }), grant.covers(current.tenant) else {
            throw notFound(id)
        }
        let now = services.clock()
        let revoked = try await services.work.run { try store.revoke(id: id, now: now) }
        if current.status == .active, revoked.status == .revoked {
            try await services.vault.use { vault in
                try vault.recordAudit(
                    action: "invitation.revoke", tenant: revoked.tenant,
                    detail: InvitationRules.revokedDetail(revoked, by: actor))
            }
        }
        return revoked
    }
}
