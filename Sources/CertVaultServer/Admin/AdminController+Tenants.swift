import CertVaultAccess
import CertVaultCore
import CertVaultOnboarding
import CertVaultVault
import Foundation
import Hummingbird

/// One row of the tenants table: what the vault's index and the onboarding record say about a
/// tenant the grant covers.
struct AdminTenantRow: Sendable {
    var id: String
    var displayName: String = ""
    /// The onboarding state, or "none" for a tenant never onboarded.
    var state: String = "none"
    var generation: Int?
    /// The active certificate's notAfter, `YYYY-MM-DDTHH:MM:SSZ`.
    var notAfter: String?
    var organizationId: String?
    var applicationId: String?
    /// Onboarded: a rotation can be started.
    var rotatable = false

    /// The rows of every tenant `grant` covers, sorted by id: vault generations and onboarding records
    /// read through ``TenantReader``, so nothing outside the grant is ever read into a row.
    static func rows(_ services: AppServices, grant: AccessGrant) async throws -> [AdminTenantRow] {
        let store = services.onboardingStore
        let vaultTenants = try await services.vault.use { try TenantReader.generations($0, grant: grant) }
        let records = try await services.work.run { try TenantReader.records(store, grant: grant) }
        var rows: [String: AdminTenantRow] = [:]
        for (tenant, entries) in vaultTenants {
            var row = AdminTenantRow(id: tenant.rawValue)
            if let active = entries.filter({ $0.metadata.status == .active }).max(by: { $0.generation < $1.generation }) {
                row.generation = active.generation
                row.notAfter = active.metadata.notAfter
                row.organizationId = active.metadata.vb365OrganizationID
                row.applicationId = active.metadata.applicationID
            }
            rows[tenant.rawValue] = row
        }
        for record in records {
            let id = record.intake.tenant.rawValue
            var row = rows[id] ?? AdminTenantRow(id: id)
            row.displayName = record.intake.displayName
            row.state = record.state.rawValue
            row.organizationId = record.organizationId ?? row.organizationId
            row.applicationId = record.applicationId ?? row.applicationId
            row.rotatable = record.state == .onboarded
            rows[id] = row
        }
        return rows.values.sorted { $0.id < $1.id }
    }

    /// Whether the row matches the filter: `query` (case-insensitive) in the id, the name or a VB365
    /// id, and `state` ("" for any).
    func matches(query: String, state: String) -> Bool {
        if !state.isEmpty && self.state != state { return false }
        let query = query.trimmingCharacters(in: .whitespaces).lowercased()
        if query.isEmpty { return true }
        return [id, displayName, organizationId ?? "", applicationId ?? ""].contains { $0.lowercased().contains(query) }
    }
}

extension AdminController {
    /// The onboarding states the filter offers, with "any" first.
    static let stateChoices: [(value: String, label: String)] =
        [("", "Any state"), ("none", "Not onboarded")]
        + OnboardingRecord.State.allCases.map { ($0.rawValue, stateLabel($0.rawValue)) }

    static func stateLabel(_ state: String) -> String {
        switch state {
        case "none": "not onboarded"
        case "awaiting-customer": "awaiting the customer"
        case "adding-organization": "adding the organization"
        default: state
        }
    }

    /// `GET /admin?q=...&state=...`: the tenants table and the expiry chart.
    func tenantsPage(_ request: Request, caller: AdminCaller, notice: String? = nil) async throws -> Response {
        let query = AdminForm(Array((request.uri.query ?? "").utf8))
        let text = String((query["q"] ?? "").prefix(200))
        let state = Self.stateChoices.contains { $0.value == query["state"] } ? query["state"]! : ""
        let now = self.now
        let all = try await AdminTenantRow.rows(services, grant: caller.grant)
        let shown = all.filter { $0.matches(query: text, state: state) }
        let canRotate = caller.grant.permits(Action.rotate.scope)
        let chart = ExpiryChart(now: now, notAfter: all.compactMap { $0.notAfter.flatMap(UTCTime.parse) })
        let tenants: [[String: Any]] = shown.map { row in
            var values: [String: Any] = [
                "id": row.id, "displayName": row.displayName, "state": row.state, "stateLabel": Self.stateLabel(row.state),
                "organizationId": row.organizationId ?? "", "applicationId": row.applicationId ?? "",
                "generation": row.generation.map(String.init) ?? "", "rotatable": row.rotatable,
            ]
            if let notAfter = row.notAfter {
                values["notAfter"] = notAfter
                values["expiryDate"] = String(notAfter.prefix(10))
                if let seconds = UTCTime.parse(notAfter) {
                    let days = (seconds - now) / 86_400
                    values["expiryNote"] =
                        seconds < now ? "(expired)" : days == 0 ? "(today)" : days == 1 ? "(in 1 day)" : "(in \(days) days)"
                    values["soon"] = seconds - now < 30 * 86_400
                }
            }
            return values
        }
        let filtered = !text.isEmpty || !state.isEmpty
        let caption =
            filtered
            ? "\(shown.count) of \(all.count) \(all.count == 1 ? "tenant" : "tenants") match the filter"
            : "\(all.count) \(all.count == 1 ? "tenant" : "tenants")"
        var values: [String: Any] = [
            "q": text, "tenants": tenants, "canRotate": canRotate, "csrf": caller.csrf, "caption": caption,
            "filtered": filtered, "chartSVG": chart.svg(), "chartTable": chart.table(), "chartSummary": chart.summary,
            "states": Self.stateChoices.map { ["value": $0.value, "label": $0.label, "selected": $0.value == state] },
        ]
        if let notice { values["notice"] = notice }
        let page = pages.render("admin_tenants", values, frame: .init(title: "Tenants", page: "tenants", provider: provider, caller: caller))
        return AdminPages.html(page)
    }

    /// `POST /admin/tenants/{tenant}/rotate`: starts a rotation through the API's own code path
    /// (``OnboardingHandlers/startRotation(_:tenant:configureApplication:)``), with the API's
    /// default (`configureApplication`: the customer's administrator signs in).
    func rotate(_ rawTenant: String, caller: AdminCaller) async throws -> Response {
        let tenant = try RouteInput.tenant(fromPath: rawTenant)
        let input = RouteInput(services: services, grant: caller.grant, tenant: tenant)
        try input.requireCovered(tenant)
        let rotation = try await OnboardingHandlers.startRotation(input, tenant: tenant, configureApplication: true)
        try await audit(
            "dashboard.rotation", tenant: tenant,
            detail: "token \(caller.grant.accessor) started a rotation: phase \(rotation.phase.rawValue), generation \(rotation.generation)")
        let explanation: String
        switch rotation.phase {
        case .awaitingCustomer:
            explanation =
                "The new certificate needs the customer's Global Administrator to sign in at Microsoft with the code below "
                + "(or send them a renewal invitation from Invitations). The rotation goes on once they have signed in."
        case .updating: explanation = "VB365 is being given the new certificate."
        case .done: explanation = "VB365 uses the new certificate now; the previous generation is superseded."
        case .failed: explanation = "VB365 refused the new certificate; the previous generation is still the active one."
        case .expired: explanation = "The sign-in code expired. Start the rotation again for a new code."
        }
        var values: [String: Any] = [
            "tenant": tenant.rawValue, "phase": rotation.phase.rawValue, "phaseLabel": rotation.phase.rawValue.replacingOccurrences(of: "-", with: " "),
            "explanation": explanation, "generation": rotation.generation, "thumbprint": rotation.thumbprint,
        ]
        if let failure = rotation.failure { values["failure"] = failure.reason + (failure.hint.map { " " + $0 } ?? "") }
        if rotation.phase == .awaitingCustomer {
            values["userCode"] = rotation.userCode ?? ""
            values["verificationUrl"] = rotation.verificationUrl ?? ""
            values["codeExpiresAt"] = rotation.codeExpiresAt ?? ""
        }
        let page = pages.render(
            "admin_rotation", values, frame: .init(title: "Rotation of \(tenant.rawValue)", page: "rotation", provider: provider, caller: caller))
        return AdminPages.html(page)
    }

    /// `GET /admin/audit`: the newest records the grant may see, newest first.
    func auditPage(_ caller: AdminCaller) async throws -> Response {
        let grant = caller.grant
        let (records, verified) = try await services.vault.use { TenantReader.audit($0, after: 0, grant: grant) }
        let newest = records.suffix(Self.auditRows).reversed()
        let rows: [[String: Any]] = newest.map { record in
            [
                "sequence": record.sequence, "time": record.time, "actor": record.actor, "action": record.action,
                "tenant": record.tenant ?? "", "generation": record.generation.map(String.init) ?? "", "detail": record.detail,
            ]
        }
        let values: [String: Any] = [
            "records": rows, "verified": verified,
            "integrity": verified
                ? "The audit log's chain of records verifies: nothing was removed or altered."
                : "The audit log does not verify: records may have been removed or altered. Run 'certvault audit verify' on the server.",
            "caption": records.count > Self.auditRows
                ? "The newest \(Self.auditRows) of \(records.count) records you may see, newest first"
                : "\(records.count) \(records.count == 1 ? "record" : "records") you may see, newest first",
        ]
        let page = pages.render("admin_audit", values, frame: .init(title: "Audit log", page: "audit", provider: provider, caller: caller))
        return AdminPages.html(page)
    }

    /// The most audit records the page shows.
    static let auditRows = 200
}
