public import CertVaultAccess
import CertVaultConfiguration
public import CertVaultCore
public import CertVaultOnboarding
import Foundation
import Hummingbird

/// `POST /v1/invitations`.
struct CreateInvitationBody: StrictJSONBody {
    static let fields: Set<String> = ["tenant", "displayName", "kind", "expiresInDays"]
    var tenant: String
    var displayName: String?
    var kind: String?
    var expiresInDays: Int?
}

/// Which tenants may get which invitation, shared by `POST /v1/invitations` and `certvault invite`.
public enum InvitationRules {
    /// A tenant already onboarded gets no onboarding invitation.
    public static let tenantAlreadyOnboarded = CertVaultError.Code("tenant-already-onboarded")
    /// A renewal invitation needs a tenant whose onboarding is `onboarded`.
    public static let tenantNotOnboarded = CertVaultError.Code("tenant-not-onboarded")

    /// Refuses an invitation of `kind` for `tenant` whose onboarding record is `record`: an onboarding
    /// invitation for a tenant already onboarded, a renewal invitation for a tenant not (yet) onboarded.
    ///
    /// - Throws: ``CertVaultError`` `tenant-already-onboarded` or `tenant-not-onboarded` (the API answers 409).
    public static func check(kind: Invitation.Kind, tenant: TenantID, record: OnboardingRecord?) throws {
        switch kind {
        case .onboarding:
            guard record?.state != .onboarded else {
                throw CertVaultError(
                    tenantAlreadyOnboarded, "Tenant '\(tenant.rawValue)' is onboarded already; an onboarding invitation has nothing to do.",
                    hint: "For a certificate rotation that needs the customer's sign-in, send a renewal invitation (kind renewal).")
            }
        case .renewal:
            guard record?.state == .onboarded else {
                throw CertVaultError(
                    tenantNotOnboarded,
                    "Tenant '\(tenant.rawValue)' is not onboarded (its onboarding is \(record?.state.rawValue ?? "not started")); "
                        + "a renewal invitation needs an onboarded tenant.",
                    hint: "Send an onboarding invitation (kind onboarding) first, or finish the tenant's onboarding.")
            }
        }
    }

    /// The audit detail of a created invitation (never the token).
    public static func createdDetail(_ invitation: Invitation, by actor: String, replaced: [Invitation]) -> String {
        var text =
            "invitation \(invitation.id) kind \(invitation.kind.rawValue) expires \(UTCTime.dateTime(invitation.expiresAt)) by \(actor)"
        if let name = invitation.displayName { text += " for '\(DisplayText.escapingControls(name, limit: 120))'" }
        if !replaced.isEmpty { text += "; replaces \(replaced.map(\.id).joined(separator: ","))" }
        return text
    }

    /// The audit detail of a revoked invitation.
    public static func revokedDetail(_ invitation: Invitation, by actor: String, reason: String? = nil) -> String {
        "invitation \(invitation.id) kind \(invitation.kind.rawValue) by \(actor)" + (reason.map { " (\($0))" } ?? "")
    }
}

/// An invitation as the API and `certvault invitation list --json` show it: never its token or hash.
public struct InvitationView: Codable, Sendable {
    public var id: String
    public var tenant: String
    public var kind: String
    public var displayName: String?
    /// `active`, `expired`, `completed` or `revoked`.
    public var state: String
    public var createdAt: String
    public var expiresAt: String
    /// A token accessor or `cli:<user>`.
    public var createdBy: String
    public var completedAt: String?
    public var revokedAt: String?

    /// The view of `invitation` at `now` (which decides `expired`).
    public init(_ invitation: Invitation, now: Int64) {
        id = invitation.id
        tenant = invitation.tenant.rawValue
        kind = invitation.kind.rawValue
        displayName = invitation.displayName
        state = invitation.displayState(now: now)
        createdAt = UTCTime.dateTime(invitation.createdAt)
        expiresAt = UTCTime.dateTime(invitation.expiresAt)
        createdBy = invitation.createdBy
        completedAt = invitation.completedAt.map(UTCTime.dateTime)
        revokedAt = invitation.revokedAt.map(UTCTime.dateTime)
    }
}

/// A created invitation without its link (``InvitationLink/json(base:token:rest:)`` splices the link in).
public struct CreatedInvitationView: Encodable, Sendable {
    public var invitation: InvitationView
    /// The ids of the tenant's earlier invitations of the same kind that this one replaced (revoked).
    public var replaced: [String]

    /// The view of a created invitation and the ids of those it replaced.
    public init(invitation: InvitationView, replaced: [String]) {
        self.invitation = invitation
        self.replaced = replaced
    }

    public func encode(to encoder: any Encoder) throws {
        try invitation.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(replaced, forKey: .replaced)
    }

    enum Key: String, CodingKey { case replaced }
}

/// `GET /v1/invitations`.
struct InvitationList: Codable, Sendable {
    var invitations: [InvitationView]
}

/// The link of an invitation: `PUBLIC_URL/onboard/TOKEN`.
public enum InvitationLink {
    /// `{"url":"BASE/onboard/TOKEN", ...rest}`: the link goes straight from secure memory into the
    /// bytes, never through a `String`. Wipe the result when it has been sent.
    public static func json(base: String, token: SecretBytes, rest: some Encodable, pretty: Bool = false) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        let object = Array(try encoder.encode(rest))
        let prefix = Array(try encoder.encode(base + "/onboard/"))  // a JSON string: "…/onboard/"
        var bytes = Array((pretty ? "{\n  \"url\" : " : "{\"url\":").utf8) + prefix.dropLast()
        token.withUnsafeBytes { bytes.append(contentsOf: $0) }  // URL-safe characters only: nothing to escape
        bytes += Array("\",".utf8) + object.dropFirst()
        return bytes
    }

    /// `BASE/onboard/TOKEN` and a newline, in bytes (for a terminal). Wipe the result when written.
    public static func line(base: String, token: SecretBytes) -> [UInt8] {
        var bytes = Array((base + "/onboard/").utf8)
        token.withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// Invitations: links for the customer portal (docs/portal.md, "Invitations").
enum InvitationHandlers {
    @Sendable static func create(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        _ = try Query(request, allowed: [])
        let body = try await JSONBody.decode(CreateInvitationBody.self, from: request, context: context)
        let tenant = try RouteInput.tenant(fromPath: body.tenant)
        try input.requireCovered(tenant)
        let kinds = Invitation.Kind.allCases.map(\.rawValue)
        guard let kind = Invitation.Kind(rawValue: body.kind ?? "onboarding") else {
            throw Problem(
                .badRequest, code: "invalid-body", detail: "The field 'kind' must be one of \(kinds.joined(separator: ", ")).",
                hint: "Leave it out for an onboarding invitation.")
        }
        let services = input.services
        let days = body.expiresInDays ?? services.configuration.portal.invitationDays
        guard (1...90).contains(days) else {
            throw Problem(
                .badRequest, code: "invalid-body", detail: "The field 'expiresInDays' must be between 1 and 90.",
                hint: "Leave it out for the default of \(services.configuration.portal.invitationDays) days.")
        }
        // The dashboard's form takes the same path: one live link per tenant and kind, the kind
        // checked against the tenant's onboarding, every change audited.
        let made = try await AdminInvitations.create(
            input, tenant: tenant, kind: kind, displayName: body.displayName, days: days, actor: "api token \(grant.accessor)")
        let now = services.clock()
        let view = CreatedInvitationView(
            invitation: InvitationView(made.invitation, now: now), replaced: made.replaced.map(\.id))
        var bytes = try InvitationLink.json(base: services.configuration.portalPublicURL, token: made.token, rest: view)
        defer { SecureWipe.wipe(&bytes) }
        var headers = HTTPFields()
        headers[.location] = "/v1/invitations/\(made.invitation.id)"
        return JSONResponse.make(bytes: bytes, status: .created, headers: headers)
    }

    @Sendable static func list(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let query = try Query(request, allowed: ["tenant", "state"])
        let states = ["active", "expired", "completed", "revoked"]
        let state = query["state"]
        if let state, !states.contains(state) {
            throw Problem.invalidQuery(
                "The query parameter state must be one of \(states.joined(separator: ", ")).", hint: "For example state=active.")
        }
        let tenant = try query["tenant"].map { try RouteInput.tenant(fromPath: $0) }
        let store = try AdminInvitations.requireStore(input.services)
        let now = input.services.clock()
        let all = try await input.services.work.run { try store.list() }
        let views = all.filter { invitation in
            grant.covers(invitation.tenant) && (tenant == nil || invitation.tenant == tenant)
                && (state == nil || invitation.displayState(now: now) == state)
        }.map { InvitationView($0, now: now) }
        return try JSONResponse.make(InvitationList(invitations: views))
    }

    @Sendable static func revoke(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        _ = try Query(request, allowed: [])
        let id = try context.parameters.require("id")
        _ = try AdminInvitations.requireStore(input.services)
        guard InvitationText.isValidID(id) else {
            if InvitationText.looksLikeToken(id) {
                throw Problem(
                    .badRequest, code: "invalid-input", detail: "That is an invitation token, not an id.",
                    hint: "Give the id (the 16 characters after 'cvi_'); the link's token stays out of URLs, logs and histories.")
            }
            throw AdminInvitations.notFound(id)
        }
        let revoked = try await AdminInvitations.revoke(input, id: id, actor: "api token \(grant.accessor)")
        let now = input.services.clock()
        return try JSONResponse.make(InvitationView(revoked, now: now))
    }
}
